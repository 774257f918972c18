# EPS on PASCAL VOC 2012 aug with the paper's settings (halbielee/EPS
# script/voc12_eps.sh): ResNet-38d, 20k iterations, batch 8, crop 448,
# SGD lr 0.01 (0.1 for the new classifier), weight decay 5e-4, poly decay;
# tau 0.4, lambda 0.5; PFAN saliency maps in <VOC2012>/SALImages (EPS
# README; WSSS-BED collections work the same: set data_prefix.saliency_path
# and, for maps that are not .png, file_suffixes=dict(saliency_path=...)).
# Pseudo masks: scales (0.5, 1, 1.5, 2) + flip, threshold 0.20.
_base_ = [
    '../_base_/models/eps_wr38d.py', '../_base_/datasets/voc12aug_cls.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_cam_poly.py'
]
crop_size = (448, 448)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadSaliencyMap'),
    # EPS: random long-side resize in [448, 768], crop 448, flip, colour jitter
    dict(
        type='RandomResize',
        scale=(768, 768),
        ratio_range=(448 / 768, 1.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    # the saliency map as a data field, its validity as a meta key
    dict(
        type='PackWSSSInputs',
        meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                   'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                   'reduce_zero_label', 'img_labels', 'saliency_valid'),
        pixel_keys=('gt_saliency', )),
]
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        data_prefix=dict(img_path='JPEGImages', saliency_path='SALImages'),
        # a missing map is LoadSaliencyMap's to handle (its fallback)
        optional_files=('saliency_path', ),
        pipeline=train_pipeline))
max_iters = 20000
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'cam_head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=5000))
# stage 2 writes the masks and the CAMs, the input of a refiner
# (AffinityNet); the runtime's hooks (runtime_hooks), then this config's
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook', save_maps=True),
]
