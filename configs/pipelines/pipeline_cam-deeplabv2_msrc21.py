# The CAM baseline on the MSRC-21 photographs (CPU; no pretrained weights):
#   python tools/run_pipeline.py configs/pipelines/pipeline_cam-deeplabv2_msrc21.py \
#       --data-root ../shared/data/msrc21
# classifier (half-width ResNet-18 from scratch) -> pseudo_masks (CAMs,
# scales 0.5/1/1.5 + flip, on the train split, scored against its masks) ->
# segmentation (DeepLab-v2 from scratch on the pseudo masks; no refinement:
# the dense CRF lowered the pseudo-mask mIoU on these photographs at every
# threshold, see configs/cam/README.md) -> val mIoU, single scale and
# multi-scale + flip.
_cam = '../cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py'
_seg = '../deeplabv2/deeplabv2_r18w32-d8_1xb16-1k_msrc21-128x128.py'
stages = [
    dict(name='classifier', kind='train', config=_cam),
    dict(
        name='pseudo_masks',
        kind='test',
        config=_cam,
        out=True,
        inputs=dict(checkpoint='classifier.checkpoint'),
        # only the sweep without CRF: the CRF column costs minutes here
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
        name='segmentation',
        kind='train',
        config=_seg,
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'pseudo_masks.masks'
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
