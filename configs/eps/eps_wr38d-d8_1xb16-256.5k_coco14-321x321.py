# EPS on COCO 2014 with the reference settings (halbielee/EPS
# script/coco_eps.sh, log/log_coco_eps.log): ResNet-38d, batch 16, crop
# 321, 256.5k iterations, tau 0.4, lambda 0.9; PFAN saliency maps in
# <coco>/SALImages/<split>. Pseudo masks as for VOC.
_base_ = [
    '../_base_/models/eps_wr38d.py', '../_base_/datasets/coco14_cls.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_cam_poly.py'
]
model = dict(
    cam_head=dict(
        num_classes=80, loss_sal=dict(type='EPSLoss', tau=0.4, lam=0.9)))
crop_size = (321, 321)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadSaliencyMap'),
    dict(
        type='RandomResize',
        scale=(640, 640),
        ratio_range=(0.5, 1.0),
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
    batch_size=16,
    dataset=dict(
        data_prefix=dict(
            img_path='train2014', saliency_path='SALImages/train2014'),
        # a missing map is LoadSaliencyMap's to handle (its fallback)
        optional_files=('saliency_path', ),
        pipeline=train_pipeline))
max_iters = 256500
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'cam_head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=25000))
# stage 2 writes the masks and the CAMs, the input of a refiner
# (AffinityNet); the runtime's hooks (runtime_hooks), then this config's
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook', save_maps=True),
]
