# EPS classifier: wide ResNet-38d (output stride 8) with the EPS head (C + 1
# maps). Initialise the backbone from ImageNet weights converted with
#   python tools/model_converters/psa2mmwsss.py \
#       resnet38_ilsvrc-cls_rna-a1_cls1000_ep-0001.pth \
#       pretrain/resnet38d_ilsvrc.pth
# (the PSA/SEAM .pth; nothing is downloaded at run time).
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=8)
model = dict(
    type='CAMSegmentor',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet38d',
        out_indices=(5, ),
        # EPS/PSA train with frozen BN statistics and the stem + first
        # stage frozen (network/resnet38d.py "not_training")
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        frozen_stages=1,
        init_cfg=dict(
            type='Pretrained', checkpoint='pretrain/resnet38d_ilsvrc.pth')),
    cam_head=dict(
        type='EPSHead',
        in_channels=4096,
        num_classes=20,
        loss_sal=dict(type='EPSLoss', tau=0.4, lam=0.5)),
    # EPS infer.py: scales (0.5, 1.0, 1.5, 2.0) + flip, threshold 0.20
    test_cfg=dict(
        scales=(0.5, 1.0, 1.5, 2.0),
        flip=True,
        labels='gt',
        bg=dict(type='threshold', thr=0.2)))
