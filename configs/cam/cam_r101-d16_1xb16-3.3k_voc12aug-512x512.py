# CAM baseline with ResNet-101 (ImageNet init from a local checkpoint).
_base_ = './cam_r50-d16_1xb16-3.3k_voc12aug-512x512.py'
model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/pretrained/resnet101-torchvision.pth')))
