# CAM classifier with ResNeXt-50 32x4d (ImageNet init from a local path).
_base_ = './cam_r50-d16_1xb16-3.3k_voc12aug-512x512.py'
model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=50,
        groups=32,
        base_width=4,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/pretrained/resnext50_32x4d-torchvision.pth')))
