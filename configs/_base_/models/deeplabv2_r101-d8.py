# DeepLab-v2 (ASPP-L, branch logits summed) with a ResNet-101 backbone at
# output stride 8, the fully supervised segmentation network that most WSSS
# papers train on their pseudo masks (Chen et al., TPAMI 2017).
# The backbone has no init_cfg here (None: random init): the dataset
# configs choose the initialisation (ImageNet or COCO-pretrained weights;
# nothing is downloaded). The key is left out rather than set to None so
# that a child config can merge a Pretrained dict into it.
# size_divisor is None here, so a training config must set
# data_preprocessor.size (e.g. to its crop size), as in mmseg's configs.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=None)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=101,
        num_stages=4,
        out_indices=(3, ),
        # output stride 8: stages 3 and 4 dilated (rates 2, 4)
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        style='pytorch',
        contract_dilation=True,
        # DeepLab-v2 trains with small batches and frozen BatchNorm
        # (statistics and affine parameters, Caffe use_global_stats)
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True),
    decode_head=dict(
        type='DeepLabV2Head',
        in_channels=2048,
        num_classes=21,
        dilations=(6, 12, 18, 24),
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
