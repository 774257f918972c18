# IRN's semantic refiner on the half-width ResNet-18 of the CPU configs
# (output stride 8, the CAM classifier's backbone): five taps of 32, 32, 64,
# 128 and 256 channels at strides 4, 4, 8, 8, 8, each reduced to 32
# channels; the boundary map at stride 4. No ImageNet weights exist here:
# leaf configs initialise the frozen backbone from a trained classifier with
# the same backbone (backbone.init_cfg = dict(type='Pretrained',
# checkpoint=CAM_CKPT, prefix='backbone.')). Leaf configs set
# boundary_head.num_classes and the walk length.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=32)
model = dict(
    type='IRNet',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        stem_channels=32,
        base_channels=32,
        # unused: IRNet takes the five taps itself (resnet_taps)
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        # the classifier's backbone; leaf configs set the checkpoint
        init_cfg=dict(type='Pretrained', checkpoint=None, prefix='backbone.')),
    boundary_head=dict(
        type='IRNBoundaryHead',
        in_channels=(32, 32, 64, 128, 256),
        num_classes=21,
        channels=32,
        num_groups=4,
        radius=10),
    freeze_backbone=True,
    test_cfg=dict(
        radius=5,
        beta=10.0,
        num_iters=256,
        flip=True,
        size_divisor=16,
        bg=dict(type='threshold', thr=0.25)))
