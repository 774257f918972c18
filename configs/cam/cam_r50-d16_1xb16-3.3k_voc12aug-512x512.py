# CAM baseline of IRN on VOC 2012 train_aug: ResNet-50 (ImageNet init,
# frozen BN), output stride 16, batch 16, 5 epochs (3,300 iterations),
# lr 0.1 (head 1.0), poly. Stage 2: scales (1.0, 0.5, 1.5, 2.0) + flip,
# background threshold 0.15, pseudo masks scored on train (1,464).
_base_ = [
    '../_base_/models/cam_r50-d16.py', '../_base_/datasets/voc12aug_cls.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_cam_poly.py'
]
# stage 2 writes the pseudo masks (tools/test.py --out DIR, default
# <work_dir>/predictions); the runtime's hooks (runtime_hooks), then this
# config's
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook'),
]
