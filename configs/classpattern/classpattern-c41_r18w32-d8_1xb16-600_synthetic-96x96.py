# Luo & Yang (AAAI 2020), "Learning Saliency-Free Model with Generic
# Features": pseudo masks from class patterns (first principal component of
# one layer's features over all images of a class) instead of CAMs and a
# saliency detector. CPU variant on the embedded synthetic set.
#
# The classifier is exactly the CAM baseline's
# (cam_r18w32-d8_1xb16-600_synthetic-96x96.py: half-width ResNet-18, stride
# 8, 600 AdamW iterations), so the two methods are compared at the same
# budget and a CAM checkpoint works here as is. `model.feature_layer` is the
# layer ablation of the paper (its C4_1/C4_2/C4_3, the three blocks of
# ResNet-101's last stage): ResNet-18's last stage has two blocks, so the
# three CPU choices are layer3.1 (c32), layer4.0 (c41, this file) and
# layer4.1 (c42, the last block before the classifier).
#
#   python tools/train.py THIS                    # the classifier
#   python tools/test.py THIS CKPT --out MASKS    # patterns, then masks
# (tools/test.py fits the class patterns first, FitModelStateHook, and
# writes them to <work_dir>/class_patterns.pth; to reuse a file, add
# --cfg-options model.test_cfg.class_patterns=FILE)
# or the whole chain: configs/pipelines/pipeline_classpattern-deeplabv2_synthetic.py
_base_ = ['../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py']
model = dict(
    type='ClassPatternSegmentor',
    feature_layer='backbone.layer4.0',
    # The fitted state (like the prototypes of mmpretrain's retrievers): the
    # class patterns are fitted on the train split, at most 800 images per
    # class (the paper's VOC setting; all 300 images here), drawn per class
    # with a seeded generator; each kept image carries the classes it was
    # drawn for (selected_classes, packed as a meta key).
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
                type='SyntheticWSSSDataset',
                data_root='data/synthetic_wsss',
                generate=dict(
                    num_train=300, num_val=100, image_size=96, seed=0),
                ann_file='ImageSets/Segmentation/train.txt',
                data_prefix=dict(
                    img_path='JPEGImages', seg_map_path='SegmentationClass'),
                pipeline=[
                    dict(type='LoadImageFromFile'),
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
        class_patterns=None,  # or a saved class_patterns.pth (no fitting)
        scales=(1.0, ),  # the paper: one scale
        flip=False,
        labels='gt',
        margin=0.0,  # Algorithm 1: q_c > 0 is object
        ignore_index=255,  # pixels positive for two classes: uncertain
        bg=dict(type='threshold', thr=0.0, output='model'),
        # the dense CRF of the masks runs on single-class images only, as in
        # the paper, with IRN's label unary (the masks are hard labels); the
        # CRF'd masks of a decision boundary above 0 on the normalised
        # projections go to the metric's CRF column
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
# Stage 2 scores Algorithm 1's masks (uncertain pixels count as missed) and
# sweeps a decision boundary above 0 on the normalised projections.
test_evaluator = dict(_delete_=True, type='PseudoMaskMetric')
# the classifier's validation: image-level mAP only (before fitting, the
# model's prediction is its image-level scores)
val_evaluator = dict(_delete_=True, type='mmpretrain.AveragePrecision')
