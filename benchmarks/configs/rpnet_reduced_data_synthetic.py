# CAM against RPNet on reduced training sets of the synthetic set (RPNet's
# Table II: 1, 1/2, 1/4, 1/8 of the images): each classifier trains on a
# class-balanced fraction of the 300 train images (the dataset argument
# subset_fraction; RPNet draws its references from the same fraction) for
# the same 600 iterations of 16 queries, and its pseudo masks are scored on
# all 300 train images, as in the paper (VOC train). The full-data rows are
# those of ./rpnet_comparison_synthetic.py: run both into one work dir and
# this graph reuses them (IRN's stages are dropped here):
#   python benchmarks/seed_runs.py benchmarks/configs/rpnet_reduced_data_synthetic.py \
#       --seeds 0 1 2 --jobs 2 --work-dir work_dirs/seed_runs/rpnet_comparison_synthetic \
#       --out benchmarks/results/rpnet_reduced_data_synthetic.json
_base_ = ['./rpnet_comparison_synthetic.py']

# where each config keeps its train dataset's subset_fraction
_fraction_key = dict(
    cam='train_dataloader.dataset.subset_fraction',
    rpnet='train_dataloader.dataset.dataset.subset_fraction')


def _reduced(name, label, denominator):
    tag = f'{name}_1of{denominator}'
    return {
        f'{tag}_classifier':
        dict(
            kind='train',
            config=name,
            cfg_options={_fraction_key[name]: 1.0 / denominator}),
        f'{tag}_masks':
        dict(
            kind='test',
            config=name,
            out=True,
            inputs=dict(checkpoint=f'{tag}_classifier.checkpoint'),
            cfg_options={'model.test_cfg.crf': None},
            report={
                f'{tag}_mIoU':
                dict(metric='mIoU', label=f'{label}, 1/{denominator}: '
                     'configured'),
                f'{tag}_oracle_mIoU':
                dict(
                    metric='oracle_mIoU',
                    label=f'{label}, 1/{denominator}: oracle (GT-tuned)'),
                f'{tag}_gt_free_mIoU':
                dict(
                    metric='gt_free_mIoU',
                    label=f'{label}, 1/{denominator}: GT-free (Otsu)'),
            }),
    }


stages = dict(
    cam_irn_train=None,
    cam_irn=None,
    rpnet_irn_train=None,
    rpnet_irn=None,
    **_reduced('cam', 'CAM', 2),
    **_reduced('rpnet', 'RPNet', 2),
    **_reduced('cam', 'CAM', 4),
    **_reduced('rpnet', 'RPNet', 4),
    **_reduced('cam', 'CAM', 8),
    **_reduced('rpnet', 'RPNet', 8))
