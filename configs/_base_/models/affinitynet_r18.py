# AffinityNet on a half-width ResNet-18 at output stride 8 (the CAM
# configs' backbone, from scratch), features of its last three stages.
# Leaf configs set aff_head.num_classes and the walk length.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=32)
model = dict(
    type='AffinityNet',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        stem_channels=32,
        base_channels=32,
        out_indices=(1, 2, 3),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    aff_head=dict(
        type='AffinityHead',
        in_channels=(64, 128, 256),
        num_classes=21,
        # a quarter of the paper's (128, 256, 512) for this small backbone
        channels=(32, 64, 128),
        radius=5),
    test_cfg=dict(
        radius=5,
        beta=8.0,
        num_iters=256,
        bg=dict(type='power', alpha=16),
        output_bg='propagated',
        sweep_bg=dict(type='threshold', thr=0.25)))
