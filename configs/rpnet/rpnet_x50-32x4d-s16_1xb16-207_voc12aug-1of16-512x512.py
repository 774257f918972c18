# RPNet (paper settings) on a class-balanced 1/16 of VOC 2012 train_aug
# (RPNet's Table II), for 5 epochs of that subset (207 iterations); the
# references are drawn from the same subset. Pseudo masks are still scored
# on train (1,464). The CAM baseline at the same settings:
# ../cam/cam_x50-32x4d-s16_1xb16-207_voc12aug-1of16-512x512.py
_base_ = ['./rpnet_x50-32x4d-s16_1xb16-3.3k_voc12aug-512x512.py']
train_dataloader = dict(dataset=dict(dataset=dict(subset_fraction=1 / 16)))
max_iters = 207
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
