# CPU baseline on the embedded synthetic dataset: a half-width ResNet-18
# (32 base channels) at output stride 8, trained from scratch with AdamW for
# 600 iterations (about 3-4 minutes on 2 cores), then CAM pseudo masks on the
# train split with scales (1.0, 1.5, 2.0) + flip (the images are only 96 px,
# so down-scaling only blurs the CAMs), a background sweep and the dense CRF
# with the PSA parameters.
_base_ = [
    '../_base_/models/cam_r18.py', '../_base_/datasets/synthetic_cls.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_adamw-poly_cpu.py'
]
model = dict(
    backbone=dict(stem_channels=32, base_channels=32),
    cam_head=dict(in_channels=256, num_classes=5),
    test_cfg=dict(
        scales=(1.0, 1.5, 2.0),
        bg=dict(type='threshold', thr=0.3),
        # the dense CRF of the pseudo masks; its column in the metric's
        # table is computed at a few thresholds only (it costs far more
        # than the sweep without it)
        crf='psa',
        crf_sweep=[0.1, 0.3, 0.5, 0.7, 0.9],
        crf_workers=1))
# stage 2 writes the masks and the CAMs (for a refiner such as AffinityNet);
# the runtime's hooks (runtime_hooks), then this config's
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook', save_maps=True),
]
