# The CPU schedule of every config that trains from scratch on this
# project's 2-core machines (classifiers, AffinityNet, DeepLab-v2 on the
# synthetic set and MSRC-21): AdamW (lr 2e-3, weight decay 1e-4, every
# parameter at the same learning rate), a linear warm-up over the first 50
# iterations from 0.1x, then poly decay (power 0.9) to 0 at the last
# iteration. No ImageNet weights exist here, and SGD at the papers' learning
# rates does not train these small networks from scratch in 600 iterations.
#
# Leaf configs set the length (`train_cfg.max_iters`, with `val_interval`
# and the checkpoint interval), and may change `optim_wrapper.optimizer`'s
# lr / weight_decay. PolyLR has no `end`: mmengine's runner ends an
# iteration-based scheduler at `train_cfg.max_iters` when `end` is not set,
# so the decay always follows the leaf's length.
max_iters = 600
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=50, by_epoch=False),
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=50, by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
# A killed test pass (pseudo masks, refinement) resumes where it stopped;
# without a writer hook it is mmengine's TestLoop.
test_cfg = dict(type='ResumableTestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=25, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False, interval=max_iters),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
# Seeded runs (tools/run_pipeline.py --seed S overrides it per stage).
randomness = dict(seed=0)
