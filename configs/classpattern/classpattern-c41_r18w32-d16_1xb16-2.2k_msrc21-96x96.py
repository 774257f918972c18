# Luo & Yang (AAAI 2020) on the MSRC-21 photographs (VOC classes, VOC
# layout; point it at the data with --data-root). The classifier is exactly
# the CAM baseline's (cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py: half-width
# ResNet-18 at output stride 16, 2,200 AdamW iterations on 96 px crops), so
# the two are compared at the same budget and its checkpoint works here.
# Layer ablation: layer3.1 (c32), layer4.0 (c41, this file), layer4.1 (c42).
# Image labels come from the masks; every class has fewer than 800 train
# images, so the pattern pass sees all of them.
_base_ = ['../cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py']
model = dict(
    type='ClassPatternSegmentor',
    feature_layer='backbone.layer4.0',
    # The class patterns are fitted (tools/test.py, FitModelStateHook) on the
    # train split, at most 800 images per class, drawn per class with a
    # seeded generator; each kept image carries the classes it was drawn
    # for (selected_classes, packed as a meta key).
    pattern_dataloader=dict(
        batch_size=1,
        num_workers=1,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='PerClassDrawDataset',
            max_images_per_class=800,
            seed=0,
            dataset=dict(
                type='WSSSVOCDataset',
                data_root='data/msrc21',
                ann_file='ImageSets/Segmentation/train.txt',
                data_prefix=dict(
                    img_path='JPEGImages', seg_map_path='SegmentationClass'),
                label_source='mask',
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='LoadWSSSAnnotations'),
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
        # dense CRF on single-class images only (the paper), IRN's unary
        crf='irn',
        crf_images='single_class',
        crf_sweep=[0.1, 0.3, 0.5]))
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
val_evaluator = dict(_delete_=True, type='mmpretrain.AveragePrecision')
