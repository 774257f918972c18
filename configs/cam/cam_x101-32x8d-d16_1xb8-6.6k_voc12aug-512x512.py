# CAM classifier with ResNeXt-101 32x8d, the backbone of RPNet's code
# (torchvision resnext101_32x8d weights from a local path), batch 8 and
# lr 0.02 as RPNet's train_cam.
_base_ = './cam_r50-d16_1xb16-3.3k_voc12aug-512x512.py'
model = dict(
    backbone=dict(
        type='ResNeXt',
        depth=101,
        groups=32,
        base_width=8,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/pretrained/resnext101_32x8d-torchvision.pth')))
train_dataloader = dict(batch_size=8)
max_iters = 6600
optim_wrapper = dict(optimizer=dict(lr=0.02))
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
