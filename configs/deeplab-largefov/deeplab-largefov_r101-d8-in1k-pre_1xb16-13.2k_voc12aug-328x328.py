# Stage 3 of Luo & Yang (AAAI 2020) on VOC 2012 + SBD: DeepLab-LargeFOV on
# ResNet-101 (output stride 8), trained on the class-pattern pseudo masks
# with the paper's recipe: Adam, learning rate 5e-6 for the backbone and
# 1e-4 for the new layers (the head, lr_mult 20), batch 16, 20 epochs of
# train_aug (20 x 10,582 / 16 = 13.2k iterations), images resized to a
# fixed 328 x 328; test at 241, 328 and 401 (averaged), then the dense CRF
# (tools/test.py --tta; tta_model.crf). The paper states no schedule, so
# the rates stay constant.
_base_ = ['./deeplab-largefov_r101-d8-in1k-pre_1xb10-20k_voc12aug-321x321.py']
crop_size = (328, 328)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
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
max_iters = 13200
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=5e-6, betas=(0.9, 0.999), weight_decay=0),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=20.0)}))
param_scheduler = [
    dict(type='ConstantLR', factor=1.0, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters // 4))
