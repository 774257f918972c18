# Luo & Yang (AAAI 2020) on PASCAL VOC 2012 + SBD: class patterns of
# ResNet-101's C4_1 (the first block of its last stage, the paper's best
# layer, Table 1: 60.3 val mIoU after DeepLab-LargeFOV) from a CAM-style
# classifier trained on train_aug (10,582) image labels.
#
# Classifier: the CAM ResNet-101 recipe (ImageNet init from a local file,
# frozen BN, SGD poly, 3.3k iterations of batch 16) at output stride 8 (the
# last two stages dilated, so C4 features of a 328 x 328 input are 41 x 41)
# on 328 x 328 crops, the paper's input size. The paper does not give its
# classifier schedule.
# Class patterns (model.pattern_dataloader, fitted by tools/test.py before
# the masks, FitModelStateHook): train_aug, at most 800 images per class (the
# paper), seeded, resized to 328 x 328.
# Pseudo masks (tools/test.py THIS CKPT --out MASKS): the train split
# (1,464, scored against SegmentationClass); for stage 3 run it on train_aug
# (test_dataloader.dataset.ann_file). Dense CRF on single-class images only
# (the paper), IRN's label unary (model.test_cfg.crf).
# Ablation: classpattern-c42_... and classpattern-c43_... read layer4.1 and layer4.2.
_base_ = ['../cam/cam_r101-d16_1xb16-3.3k_voc12aug-512x512.py']
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
# fixed 328 x 328 inputs (the paper); the masks come back at the original
# size, where the ground truth (loaded after the resize) is
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='LoadWSSSAnnotations'),
    dict(type='PackWSSSInputs'),
]
model = dict(
    type='ClassPatternSegmentor',
    backbone=dict(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)),
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
            max_images_per_class=800,
            seed=0,
            dataset=dict(
                type='WSSSVOCDataset',
                data_root='data/VOCdevkit/VOC2012',
                ann_file='ImageSets/Segmentation/train_aug.txt',
                data_prefix=dict(img_path='JPEGImages'),
                cls_label_file='cls_labels.npy',
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
