# Luo & Yang (AAAI 2020) on MS COCO 2014 (81 classes): class patterns of
# ResNet-101's C4_1, at most 2000 images per class (the paper's COCO
# setting), everything else as in the VOC config.
_base_ = ['../cam/cam_r50-d16_1xb16-20k_coco14-512x512.py']
crop_size = (328, 328)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResize',
        scale=(656, 656),
        ratio_range=(0.5, 1.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackWSSSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='LoadWSSSAnnotations'),
    dict(type='PackWSSSInputs'),
]
model = dict(
    type='ClassPatternSegmentor',
    backbone=dict(
        depth=101,
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='data/pretrained/resnet101-torchvision.pth')),
    feature_layer='backbone.layer4.0',
    # at most K images per class, drawn per class with a seeded generator;
    # each kept image carries the classes it was drawn for
    # (selected_classes, packed as a meta key)
    pattern_dataloader=dict(
        batch_size=1,
        num_workers=4,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='PerClassDrawDataset',
            max_images_per_class=2000,
            seed=0,
            dataset=dict(
                type='WSSSCOCODataset',
                data_root='data/coco2014',
                ann_file='ImageSets/train2014.txt',
                data_prefix=dict(img_path='train2014'),
                cls_label_file='cls_labels_train2014.npy',
                label_source='file',
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='Resize', scale=crop_size, keep_ratio=False),
                    dict(
                        type='PackWSSSInputs',
                        meta_keys=('img_path', 'seg_map_path', 'ori_shape',
                                   'img_shape', 'pad_shape', 'scale_factor',
                                   'flip', 'flip_direction',
                                   'reduce_zero_label', 'img_labels',
                                   'selected_classes'))
                ]))),
    sign_rule='cam',
    # 80 classes x 2048^2 float64 sums are 2.7 GB: keep them on the CPU
    accumulate_on='cpu',
    test_cfg=dict(
        _delete_=True,
        class_patterns=None,
        scales=(1.0, ),
        flip=False,
        labels='gt',
        margin=0.0,
        ignore_index=255,
        bg=dict(type='threshold', thr=0.0, output='model'),
        crf='irn',
        crf_images='single_class',
        crf_sweep=[0.1, 0.3, 0.5]))
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
# before testing, FitModelStateHook fits the class patterns on
# model.pattern_dataloader and saves them to <work_dir>/class_patterns.pth
# (a rerun with the same config and checkpoint reuses that file); stage 2
# writes the masks (no maps); the runtime's hooks (runtime_hooks), then
# this config's
custom_hooks = _base_.runtime_hooks + [
    dict(type='FitModelStateHook'),
    dict(type='PredictionWriterHook', save_maps=False),
]
test_evaluator = dict(_delete_=True, type='PseudoMaskMetric')
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
val_evaluator = dict(_delete_=True, type='mmpretrain.AveragePrecision')
