# The CAM baseline of RPNet's Table II on a class-balanced 1/16 of VOC 2012
# train_aug, 5 epochs of that subset (207 iterations), the settings of
# ./cam_x50-32x4d-s16_1xb16-3.3k_voc12aug-512x512.py. Pseudo masks are
# still scored on train (1,464).
_base_ = ['./cam_x50-32x4d-s16_1xb16-3.3k_voc12aug-512x512.py']
train_dataloader = dict(dataset=dict(subset_fraction=1 / 16))
max_iters = 207
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
