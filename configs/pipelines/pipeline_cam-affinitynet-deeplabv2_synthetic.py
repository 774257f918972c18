# The plain CAM baseline refined by AffinityNet (PSA's original chain); AffinityNet
# refines the CAMs of any method, not only EPS's:
#   python tools/run_pipeline.py \
#       configs/pipelines/pipeline_cam-affinitynet-deeplabv2_synthetic.py
_cls = '../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py'
_aff = '../affinitynet/affinitynet_r18w32-d8_1xb16-600_synthetic-96x96.py'
_seg = '../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py'
stages = [
    dict(name='classifier', kind='train', config=_cls),
    dict(
        name='pseudo_masks',
        kind='test',
        config=_cls,
        out=True,  # the masks and, through the config's writer, the CAMs
        inputs=dict(checkpoint='classifier.checkpoint'),
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
    # AffinityNet learns pixel affinities from confident regions of the CAMs
    dict(
        name='refinement_train',
        kind='train',
        config=_aff,
        inputs={'train_dataloader.dataset.data_prefix.cam_path':
                'pseudo_masks.maps'}),
    # ... and refines the same CAMs by a random walk
    dict(
        name='refinement',
        kind='test',
        config=_aff,
        out=True,
        inputs={
            'checkpoint': 'refinement_train.checkpoint',
            'test_dataloader.dataset.data_prefix.cam_path':
            'pseudo_masks.maps'
        },
        report=dict(
            refined_pseudo_mask_mIoU=dict(
                metric='mIoU',
                label='AffinityNet pseudo-mask mIoU (train, propagated bg)'),
            refined_pseudo_mask_oracle_mIoU=dict(
                metric='oracle_mIoU',
                label='AffinityNet pseudo-mask mIoU (train, oracle bg)'))),
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
