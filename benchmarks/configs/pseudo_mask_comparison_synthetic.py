# Every pseudo-mask method of the toolbox on the embedded synthetic set, at
# one budget (the same half-width ResNet-18 classifier, 600 iterations,
# batch 16, AdamW; AffinityNet 600 iterations), scored on the 300 train
# images: one graph, so that three seeds of every row come from one command
#   python benchmarks/seed_runs.py benchmarks/configs/pseudo_mask_comparison_synthetic.py \
#       --seeds 0 1 2 --jobs 2 --out benchmarks/results/pseudo_mask_comparison_synthetic.json
# Rows: CAM; CAM + AffinityNet; class patterns of layer3.1 / layer4.0 /
# layer4.1 (Luo & Yang, the CAM checkpoint: the same classifier); EPS; EPS +
# AffinityNet. No segmentation stage (stage 3 is compared in the methods'
# own pipelines).
_c = '../../configs/'
configs = dict(
    cam=_c + 'cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py',
    eps=_c + 'eps/eps_r18w32-d8_1xb16-600_synthetic-96x96.py',
    refiner=_c +
    'affinitynet/affinitynet_r18w32-d8_1xb16-600_synthetic-96x96.py',
    c32=_c +
    'classpattern/classpattern-c32_r18w32-d8_1xb16-600_synthetic-96x96.py',
    c41=_c +
    'classpattern/classpattern-c41_r18w32-d8_1xb16-600_synthetic-96x96.py',
    c42=_c +
    'classpattern/classpattern-c42_r18w32-d8_1xb16-600_synthetic-96x96.py')


def _rows(prefix, label, gt_free=True):
    rows = {
        f'{prefix}_mIoU': dict(metric='mIoU', label=f'{label}: configured'),
        f'{prefix}_oracle_mIoU':
        dict(metric='oracle_mIoU', label=f'{label}: oracle (GT-tuned)'),
    }
    if gt_free:
        rows[f'{prefix}_gt_free_mIoU'] = dict(
            metric='gt_free_mIoU', label=f'{label}: GT-free (Otsu)')
    return rows


def _refiner(method):
    return dict(
        train=dict(
            kind='train',
            config='refiner',
            inputs={
                'train_dataloader.dataset.data_prefix.cam_path':
                f'{method}_masks.maps'
            }),
        test=dict(
            kind='test',
            config='refiner',
            out=True,
            inputs={
                'checkpoint': f'{method}_affinitynet_train.checkpoint',
                'test_dataloader.dataset.data_prefix.cam_path':
                f'{method}_masks.maps'
            }))


def _pattern(layer, name):
    return dict(
        kind='test',
        config=layer,
        out=True,
        inputs=dict(checkpoint='cam_classifier.checkpoint'),
        # the configured masks (Algorithm 1 + CRF on single-class images)
        # and the sweep; no CRF column
        cfg_options={'model.test_cfg.crf_sweep': []},
        report=dict(
            _rows(f'{layer}', f'class patterns {name}'),
            **{
                f'{layer}_uncertain_pct':
                dict(
                    metric='output_ignored_pct',
                    label=f'class patterns {name}: uncertain pixels %')
            }))


_no_crf = {'model.test_cfg.crf': None}
stages = dict(
    cam_classifier=dict(kind='train', config='cam'),
    cam_masks=dict(
        kind='test',
        config='cam',
        out=True,
        inputs=dict(checkpoint='cam_classifier.checkpoint'),
        cfg_options=_no_crf,
        report=_rows('cam', 'CAM')),
    cam_affinitynet_train=_refiner('cam')['train'],
    cam_affinitynet=dict(
        _refiner('cam')['test'],
        report=_rows('cam_affinitynet', 'CAM + AffinityNet')),
    c32_masks=_pattern('c32', 'layer3.1 (c32)'),
    c41_masks=_pattern('c41', 'layer4.0 (c41)'),
    c42_masks=_pattern('c42', 'layer4.1 (c42)'),
    eps_classifier=dict(kind='train', config='eps'),
    eps_masks=dict(
        kind='test',
        config='eps',
        out=True,
        inputs=dict(checkpoint='eps_classifier.checkpoint'),
        cfg_options=_no_crf,
        report=_rows('eps', 'EPS')),
    eps_affinitynet_train=_refiner('eps')['train'],
    eps_affinitynet=dict(
        _refiner('eps')['test'],
        report=_rows('eps_affinitynet', 'EPS + AffinityNet')),
)
seed = 0
repeat = 1
nproc = 1
data_root = None
