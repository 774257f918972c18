# CPU baseline on the embedded synthetic dataset: a ResNet-18 (half width)
# trained from scratch for 600 iterations, then CAM pseudo masks on the
# train split with background sweep and dense CRF (PSA parameters).
_base_ = [
    '../_base_/models/cam_r18.py', '../_base_/datasets/synthetic_cls.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_cam_poly.py'
]
model = dict(
    backbone=dict(stem_channels=32, base_channels=32),
    cam_head=dict(in_channels=256, num_classes=5),
    test_cfg=dict(scales=(1.0, 0.5, 1.5), bg=dict(type='threshold', thr=0.3)))
max_iters = 600
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'cam_head': dict(lr_mult=1.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=50, by_epoch=False),
    dict(type='PolyLR', power=0.9, begin=50, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=25), checkpoint=dict(interval=max_iters))
randomness = dict(seed=0)
