# IRN's semantic refiner (class boundaries + random walk of saved CAMs) on a
# frozen ImageNet ResNet-50 at output stride 16 by stride (IRN's
# strides=[2, 2, 2, 1]: layer3 strided, layer4 neither strided nor dilated),
# five taps (stem after the max pool, layer1 .. layer4) to 32 channels each.
# ImageNet initialisation: put torchvision's resnet50 weights (the keys match
# mmseg's ResNet) at the path below, or override
# model.backbone.init_cfg.checkpoint; nothing is downloaded. IRN's backbone
# is a fresh ImageNet ResNet-50, not the CAM network.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    # training batches are padded to a multiple of 32; test images are not
    # (IRNet pads each test image itself, test_cfg.size_divisor)
    size_divisor=32)
model = dict(
    type='IRNet',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        # unused: IRNet takes the five taps itself (resnet_taps)
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 1),
        style='pytorch',
        # IRNet freezes the whole backbone (requires_grad off, eval mode)
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/pretrained/resnet50-torchvision.pth')),
    boundary_head=dict(
        type='IRNBoundaryHead',
        in_channels=(64, 256, 512, 1024, 2048),
        num_classes=21,
        channels=32,
        num_groups=4,
        # IRN train_irn.py
        radius=10),
    freeze_backbone=True,
    # IRN make_sem_seg_labels.py: radius 5, beta 10, exp_times 8 (t = 256),
    # sem_seg_bg_thres 0.25
    test_cfg=dict(
        radius=5,
        beta=10.0,
        num_iters=256,
        flip=True,
        size_divisor=16,
        bg=dict(type='threshold', thr=0.25)))
