# RPNet against the CAM baseline, each with and without IRN's refinement, on
# the embedded synthetic set at one budget (issue 14): the same half-width
# ResNet-18 classifier from scratch, 600 iterations of 16 query images,
# AdamW, the same augmentation and stage 2; RPNet adds one reference image
# per query (a step forwards 32 images: equal in optimiser steps and query
# images, not in forward passes). IRN: the boundary head on the frozen
# backbone of the classifier it refines (initialised from that classifier's
# checkpoint: no ImageNet weights here), 600 iterations, walk t = 16.
# Pseudo masks scored on the 300 train images:
#   python benchmarks/seed_runs.py benchmarks/configs/rpnet_comparison_synthetic.py \
#       --seeds 0 1 2 --jobs 2 --out benchmarks/results/rpnet_comparison_synthetic.json
# Rows: CAM; RPNet; CAM + IRN; RPNet + IRN (configured, oracle = GT-tuned
# threshold, GT-free = Otsu's threshold). The reduced-data table is
# ./rpnet_reduced_data_synthetic.py (run into the same work dir, it reuses
# these stages).
_c = '../../configs/'
configs = dict(
    cam=_c + 'cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py',
    rpnet=_c + 'rpnet/rpnet_r18w32-d8_1xb16-600_synthetic-96x96.py',
    irn=_c + 'irn/irn_r18w32-d8_1xb16-600_synthetic-96x96.py')


_WIDE_SWEEP = [round(0.05 * i, 2) for i in range(1, 20)]


def _rows(prefix, label):
    return {
        f'{prefix}_mIoU': dict(metric='mIoU', label=f'{label}: configured'),
        f'{prefix}_oracle_mIoU':
        dict(metric='oracle_mIoU', label=f'{label}: oracle (GT-tuned)'),
        f'{prefix}_gt_free_mIoU':
        dict(metric='gt_free_mIoU', label=f'{label}: GT-free (Otsu)'),
    }


def _method(name, label):
    """Classifier, its pseudo masks, IRN trained on them and IRN's masks."""
    return {
        f'{name}_classifier':
        dict(kind='train', config=name),
        f'{name}_masks':
        dict(
            kind='test',
            config=name,
            out=True,
            inputs=dict(checkpoint=f'{name}_classifier.checkpoint'),
            cfg_options={'model.test_cfg.crf': None},
            report=_rows(name, label)),
        f'{name}_irn_train':
        dict(
            kind='train',
            config='irn',
            inputs={
                'model.backbone.init_cfg.checkpoint':
                f'{name}_classifier.checkpoint',
                'train_dataloader.dataset.data_prefix.cam_path':
                f'{name}_masks.maps'
            }),
        f'{name}_irn':
        dict(
            kind='test',
            config='irn',
            out=True,
            inputs={
                'checkpoint': f'{name}_irn_train.checkpoint',
                'test_dataloader.dataset.data_prefix.cam_path':
                f'{name}_masks.maps'
            },
            # IRN's maps are divided by their global maximum, so the best
            # background value can lie above the IRN config's sweep (0.1 -
            # 0.8): the oracle is taken over 0.05 - 0.95
            cfg_options={'test_evaluator.sweep': _WIDE_SWEEP},
            report=_rows(f'{name}_irn', f'{label} + IRN')),
    }


_parts = (_method('cam', 'CAM'), _method('rpnet', 'RPNet'))
# both classifiers and their masks first, then the refiner stages (a rerun
# resumes after the last finished stage)
stages = {k: v for part in _parts for k, v in part.items() if 'irn' not in k}
stages.update(
    {k: v
     for part in _parts for k, v in part.items() if 'irn' in k})
seed = 0
repeat = 1
nproc = 1
data_root = None
