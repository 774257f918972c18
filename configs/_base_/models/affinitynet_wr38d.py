# AffinityNet on the wide ResNet-38d (PSA resnet38_aff.py): features conv4,
# conv5, conv6 (levels 3, 4, 5), reduced to the paper's 128 / 256 / 512
# channels; random walk beta 8, t 256, radius 5, background (1 - max)^16.
# Initialise the backbone with tools/model_converters/psa2mmwsss.py weights.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=8)
model = dict(
    type='AffinityNet',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet38d',
        out_indices=(3, 4, 5),
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        frozen_stages=1,
        init_cfg=dict(
            type='Pretrained', checkpoint='pretrain/resnet38d_ilsvrc.pth')),
    aff_head=dict(
        type='AffinityHead',
        in_channels=(512, 1024, 4096),
        num_classes=21,
        channels=(128, 256, 512),
        radius=5),
    test_cfg=dict(
        radius=5,
        beta=8.0,
        num_iters=256,
        bg=dict(type='power', alpha=16),
        output_bg='propagated'))
