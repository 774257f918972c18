# CAM against class patterns of layer4.0 (c41, Luo & Yang's choice) on the
# MSRC-21 photographs, from one classifier per seed (half-width ResNet-18
# from scratch, 2,200 iterations), scored on the 393 train images:
#   python benchmarks/seed_runs.py benchmarks/configs/pseudo_mask_comparison_msrc21.py \
#       --seeds 0 1 2 --jobs 2 --data-root ../shared/data/msrc21 \
#       --out benchmarks/results/pseudo_mask_comparison_msrc21.json
_c = '../../configs/'
configs = dict(
    cam=_c + 'cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py',
    c41=_c +
    'classpattern/classpattern-c41_r18w32-d16_1xb16-2.2k_msrc21-96x96.py')
stages = dict(
    cam_classifier=dict(
        kind='train',
        config='cam',
        report=dict(
            classifier_mAP=dict(
                metric='multi-label/mAP', label='classifier mAP (val)'))),
    cam_masks=dict(
        kind='test',
        config='cam',
        out=True,
        inputs=dict(checkpoint='cam_classifier.checkpoint'),
        cfg_options={'model.test_cfg.crf': None},
        report=dict(
            cam_mIoU=dict(metric='mIoU', label='CAM: configured (thr 0.20)'),
            cam_oracle_mIoU=dict(
                metric='oracle_mIoU', label='CAM: oracle (GT-tuned)'),
            cam_gt_free_mIoU=dict(
                metric='gt_free_mIoU', label='CAM: GT-free (Otsu)'))),
    c41_masks=dict(
        kind='test',
        config='c41',
        out=True,
        inputs=dict(checkpoint='cam_classifier.checkpoint'),
        cfg_options={'model.test_cfg.crf_sweep': []},
        report=dict(
            c41_mIoU=dict(
                metric='mIoU',
                label='class patterns c41: configured (Algorithm 1 + CRF)'),
            c41_oracle_mIoU=dict(
                metric='oracle_mIoU',
                label='class patterns c41: oracle (GT-tuned)'),
            c41_gt_free_mIoU=dict(
                metric='gt_free_mIoU',
                label='class patterns c41: GT-free (Otsu)'),
            c41_uncertain_pct=dict(
                metric='output_ignored_pct',
                label='class patterns c41: uncertain pixels %'))),
)
seed = 0
repeat = 1
nproc = 1
data_root = None
