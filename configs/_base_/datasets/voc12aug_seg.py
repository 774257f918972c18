# Stage 3 on PASCAL VOC 2012 + SBD: train a segmenter on the pseudo masks of
# train_aug (10,582), validate and test on val (1,449) with the real masks.
# The train masks are the pseudo masks: data_prefix.seg_map_path of the
# train dataset must hold <id>.png for every train_aug image: make them
# with the CAM config's tools/test.py pass on train_aug (see
# configs/pipelines/pipeline_cam-deeplabv2_r101_voc12aug.py) and set it with
# --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=$PWD/DIR
# (absolute folders are used as is, relative ones joined with data_root).
# Settings of the de-facto stage-3 trainer kazuto1011/deeplab-pytorch
# (configs/voc12.yaml): crop 321, scales 0.5-1.5, flip; test at full size.
dataset_type = 'WSSSVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
pseudo_masks = '{{ fileDirname }}/../../../work_dirs/pseudo_masks_train_aug'  # noqa
crop_size = (321, 321)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(
        type='RandomResize',
        scale=(500, 500),
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='PackSegInputs'),
]
# The papers' final test: scales 0.5-1.75 + flip (SEAM's retrain config),
# then the dense CRF (tta_model.crf; tools/test.py --tta --cfg-options tta_model.crf=NAME).
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[[
            dict(type='Resize', scale_factor=r, keep_ratio=True)
            for r in img_ratios
        ],
                    [
                        dict(type='RandomFlip', prob=0., direction='horizontal'),
                        dict(type='RandomFlip', prob=1., direction='horizontal')
                    ], [dict(type='LoadWSSSAnnotations')],
                    [dict(type='PackSegInputs')]])
]
train_dataloader = dict(
    batch_size=10,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train_aug.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_masks),
        label_source='none',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        label_source='none',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
