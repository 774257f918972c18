# Iteration-based schedule of IRN's train_cam: SGD, poly decay (power 0.9),
# weight decay 1e-4, the CAM head at 10x the backbone learning rate.
# Leaf configs set max_iters (and the learning rate).
max_iters = 3300
optimizer = dict(type='SGD', lr=0.1, momentum=0.0, weight_decay=1e-4)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=optimizer,
    paramwise_cfg=dict(custom_keys={'cam_head': dict(lr_mult=10.0)}),
    clip_grad=None)
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
# Stage 2 resumes a killed pseudo-mask pass where it stopped.
test_cfg = dict(type='ResumableTestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
