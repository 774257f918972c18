# CAM classifier with a ResNet-50 backbone at output stride 16 (IRN/RPNet).
# ImageNet initialisation: put torchvision's resnet50 weights (the keys match
# mmseg's ResNet) at the path below, or override
# model.backbone.init_cfg.checkpoint; nothing is downloaded.
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
        depth=50,
        num_stages=4,
        out_indices=(3, ),
        # output stride 16: last stage dilated instead of strided
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        style='pytorch',
        # IRN fine-tunes with frozen BatchNorm statistics and a frozen stem
        frozen_stages=0,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/pretrained/resnet50-torchvision.pth')),
    cam_head=dict(type='CAMHead', in_channels=2048, num_classes=20),
    test_cfg=dict(
        scales=(1.0, 0.5, 1.5, 2.0),
        flip=True,
        labels='gt',
        # IRN cam_eval_thres
        bg=dict(type='threshold', thr=0.15)))
