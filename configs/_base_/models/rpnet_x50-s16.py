# RPNet (region prototypes) classifier with a ResNeXt-50 32x4d backbone at
# output stride 16, the paper's ablation backbone (the reference code
# hard-codes ResNeXt-101 32x8d: depth=101, base_width=8).
# Output stride 16 by stride, not dilation: layer4 has stride 1 and no
# dilation, as IRN/RPNet. BatchNorm statistics are frozen (norm_eval) while
# the affine parameters train (IRN's FixedBatchNorm); stem, layer1 and
# layer2 are frozen (frozen_stages=2), as the code detaches layer2 and
# freezes conv1.
# ImageNet initialisation: put torchvision's resnext50_32x4d weights (the
# keys match mmseg's ResNeXt) at the path below, or override
# model.backbone.init_cfg.checkpoint; nothing is downloaded.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=32)
model = dict(
    type='CAMSegmentor',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNeXt',
        depth=50,
        groups=32,
        base_width=4,
        num_stages=4,
        # block 2 (512 ch, stride 8) and block 4 (2048 ch, stride 16): the
        # prototype levels of the paper's best ablation (Table IV)
        out_indices=(1, 3),
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 1),
        style='pytorch',
        frozen_stages=2,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/pretrained/resnext50_32x4d-torchvision.pth')),
    # the head's defaults follow the paper (see RegionPrototypeHead); the
    # reference code's settings are
    #   channels=512, reduce_levels='cam',
    #   attention_cfg=dict(mode='dot_product', norm_cfg=dict(type='BN'),
    #                      zeros_init=True),
    #   prototype_cfg=dict(inclusive=True, drop_mode='add',
    #                      mask_source='last', compare_to='same',
    #                      rescale=1.3),
    #   loss_enhanced_cls=None,
    #   loss_consistency=dict(type='PrototypeConsistencyLoss', mode='cam',
    #                         reduction='mean', loss_weight=10.0)
    cam_head=dict(
        type='RegionPrototypeHead',
        in_channels=(512, 2048),
        num_classes=20,
        in_index=-1,
        levels=(0, 1),
        channels=256),
    test_cfg=dict(
        scales=(1.0, 0.5, 1.5, 2.0),
        flip=True,
        labels='gt',
        # IRN/RPNet cam_eval_thres
        bg=dict(type='threshold', thr=0.15)))
