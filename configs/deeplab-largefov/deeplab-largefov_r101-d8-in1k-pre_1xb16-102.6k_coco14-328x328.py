# Stage 3 of Luo & Yang (AAAI 2020) on MS COCO 2014 (81 classes):
# DeepLab-LargeFOV ResNet-101 with the paper's Adam recipe (5e-6 backbone,
# 1e-4 head), batch 16, 20 epochs of train2014 (20 x 82,081 / 16 = 102.6k
# iterations), fixed 328 x 328 inputs; test at 241/328/401 + dense CRF.
_base_ = [
    '../_base_/models/deeplab-largefov_r101-d8.py',
    '../_base_/datasets/coco14_seg.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_seg_poly.py'
]
crop_size = (328, 328)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/resnet101_in1k.pth')),
    decode_head=dict(num_classes=81))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[[
            dict(type='Resize', scale=(s, s), keep_ratio=False)
            for s in (241, 328, 401)
        ], [dict(type='LoadWSSSAnnotations')], [dict(type='PackSegInputs')]])
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
max_iters = 102600
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=5e-6, betas=(0.9, 0.999), weight_decay=0),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=20.0)}))
param_scheduler = [
    dict(type='ConstantLR', factor=1.0, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters // 5)
default_hooks = dict(checkpoint=dict(interval=max_iters // 10))
tta_model = dict(type='CRFSegTTAModel', crf='deeplab-v2')
