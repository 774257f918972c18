# CPU baseline on the MSRC-21 photographs (VOC classes, VOC layout):
# ResNet-18 trained from scratch, about 8 minutes on 2 cores; stage 2 on
# the train split with scales (1.0, 0.5, 1.5) + flip, background sweep and
# dense CRF. Point it at the data with --data-root.
_base_ = [
    '../_base_/models/cam_r18.py', '../_base_/datasets/msrc21_cls.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_cam_poly.py'
]
model = dict(
    test_cfg=dict(scales=(1.0, 0.5, 1.5), bg=dict(type='threshold', thr=0.3)))
max_iters = 2000
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'cam_head': dict(lr_mult=1.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=100, by_epoch=False),
    dict(type='PolyLR', power=0.9, begin=100, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=max_iters))
randomness = dict(seed=0)
