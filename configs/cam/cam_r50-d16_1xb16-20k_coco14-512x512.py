# CAM baseline on MS COCO 2014 (81 classes): ResNet-50, output stride 16.
_base_ = [
    '../_base_/models/cam_r50-d16.py', '../_base_/datasets/coco14_cls.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_cam_poly.py'
]
model = dict(cam_head=dict(num_classes=80))
max_iters = 20000
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=5000))
# stage 2 writes the pseudo masks (tools/test.py --out DIR, default
# <work_dir>/predictions); the runtime's hooks (runtime_hooks), then this
# config's
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook'),
]
