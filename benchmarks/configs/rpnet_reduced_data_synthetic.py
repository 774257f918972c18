# CAM against RPNet on reduced training sets of the synthetic set (RPNet's
# Table II: 1, 1/2, 1/4, 1/8 of the images): each classifier trains on a
# class-balanced fraction of the 300 train images (the dataset argument
# subset_fraction; RPNet draws its references from the same fraction) for
# the same number of epochs as the full-data classifier, as the paper and
# its code do (5 epochs whatever the list): 600 / d iterations of 16 queries
# at fraction 1/d, with the warm-up (50 iterations at full data) scaled
# alike. CAM and RPNet get the same iterations at every fraction (equal
# optimiser steps and query images; RPNet forwards one reference per query
# besides). The pseudo masks are scored on all 300 train images, as the
# paper scores VOC train.
#
# The full-data column is ./rpnet_comparison_synthetic.py's CAM and RPNet
# rows (the same configs, seeds and schedule), so this graph holds only the
# reduced fractions (IRN's stages are dropped):
#   python benchmarks/seed_runs.py benchmarks/configs/rpnet_reduced_data_synthetic.py \
#       --seeds 0 1 2 --jobs 2 --out benchmarks/results/rpnet_reduced_data_synthetic.json
_base_ = ['./rpnet_comparison_synthetic.py']

# where each config keeps its train dataset's subset_fraction
_fraction_key = dict(
    cam='train_dataloader.dataset.subset_fraction',
    rpnet='train_dataloader.dataset.dataset.subset_fraction')


_FULL_ITERS, _FULL_WARMUP = 600, 50


def _epoch_budget(name, denominator):
    """Fraction 1/d at the full-data classifier's number of epochs."""
    iters = _FULL_ITERS // denominator
    warmup = max(1, _FULL_WARMUP // denominator)
    return {
        _fraction_key[name]: 1.0 / denominator,
        'train_cfg.max_iters': iters,
        'train_cfg.val_interval': iters,
        'default_hooks.checkpoint.interval': iters,
        'param_scheduler.0.end': warmup,
        'param_scheduler.1.begin': warmup,
    }


def _reduced(name, label, denominator):
    tag = f'{name}_1of{denominator}'
    return {
        f'{tag}_classifier':
        dict(
            kind='train',
            config=name,
            cfg_options=_epoch_budget(name, denominator)),
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
    cam_classifier=None,
    cam_masks=None,
    rpnet_classifier=None,
    rpnet_masks=None,
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
