# A small CAM classifier for CPU runs: ResNet-18, trained from scratch,
# output stride 8 so that CAMs of small images keep some resolution.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    # training batches are padded to a multiple of 32 (crops may be smaller
    # than crop_size); test images are not padded
    size_divisor=32)
model = dict(
    type='CAMSegmentor',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(3, ),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    cam_head=dict(type='CAMHead', in_channels=512, num_classes=20),
    test_cfg=dict(
        scales=(1.0, 0.5, 1.5, 2.0),
        flip=True,
        labels='gt',
        bg=dict(type='threshold', thr=0.15)))
