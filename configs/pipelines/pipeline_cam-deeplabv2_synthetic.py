# The CAM baseline, the whole chain on the embedded synthetic dataset, on CPU
# in about 12 minutes (2 cores):
#   python tools/run_pipeline.py configs/pipelines/pipeline_cam-deeplabv2_synthetic.py
# classifier (half-width ResNet-18, 600 iterations) -> pseudo_masks
# (multi-scale + flip CAMs of the train split, background threshold 0.3,
# scored with the sweep table) -> refinement (the same CAMs with the dense
# CRF, PSA parameters) -> segmentation (DeepLab-v2 on the refined masks) ->
# test / test_tta (val, single scale and multi-scale + flip).
# Stage keys: see mmwsss/apis/pipeline/graph.py.
_cam = '../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py'
_seg = '../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py'
stages = [
    dict(name='classifier', kind='train', config=_cam),
    dict(
        name='pseudo_masks',
        kind='test',
        config=_cam,
        out=True,
        inputs=dict(checkpoint='classifier.checkpoint'),
        # the sweep without CRF only: the CRF column costs far more
        cfg_options={'model.test_cfg.crf': None},
        report=dict(
            cam_pseudo_mask_mIoU=dict(
                metric='mIoU',
                label='CAM pseudo-mask mIoU (train, configured bg)'),
            cam_pseudo_mask_oracle_mIoU=dict(
                metric='oracle_mIoU',
                label='CAM pseudo-mask mIoU (train, oracle bg)'),
            cam_pseudo_mask_gt_free_mIoU=dict(
                metric='gt_free_mIoU',
                label='CAM pseudo-mask mIoU (train, GT-free bg)'))),
    dict(
        name='refinement',
        kind='test',
        config=_cam,
        out=True,
        inputs=dict(checkpoint='classifier.checkpoint'),
        # the configured threshold only, refined by the dense CRF
        cfg_options={
            'model.test_cfg.crf': 'psa',
            'model.test_cfg.crf_sweep': []
        },
        report=dict(
            refined_pseudo_mask_mIoU=dict(
                metric='mIoU',
                label='CRF-refined pseudo-mask mIoU (train, configured)'))),
    dict(
        name='segmentation',
        kind='train',
        config=_seg,
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'refinement.masks'
        }),
    dict(
        name='test',
        kind='test',
        config=_seg,
        inputs=dict(checkpoint='segmentation.checkpoint'),
        report=dict(
            val_mIoU=dict(metric='mIoU', label='val mIoU, single scale'))),
    dict(
        name='test_tta',
        kind='test',
        config=_seg,
        tta=True,
        inputs=dict(checkpoint='segmentation.checkpoint'),
        report=dict(
            val_mIoU_tta=dict(metric='mIoU', label='val mIoU, MS+flip'))),
]
seed = 0
repeat = 1
nproc = 1
data_root = None
