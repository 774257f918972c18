# MSRC-v2 photographs remapped to the 21 VOC classes, in VOC layout
# (train 393 / val 198). Set the location with tools/train.py --data-root.
# Image labels are derived from the masks (no cls_labels.npy is shipped).
#   stage 1: train split; val: val split (mAP + CAM mIoU);
#   stage 2: pseudo masks on the train split.
dataset_type = 'WSSSVOCDataset'
data_root = 'data/msrc21'
crop_size = (96, 96)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # long side in [96, 320] (the photographs are about 320 x 213)
    dict(
        type='RandomResize',
        scale=(320, 320),
        ratio_range=(0.3, 1.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackWSSSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        label_source='mask',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        label_source='mask',
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        label_source='mask',
        pipeline=test_pipeline))
val_evaluator = [
    dict(type='mmpretrain.AveragePrecision'),
    dict(type='PseudoMaskMetric'),
]
# stage 2 (tools/test.py): the model's pseudo masks, scored with the
# background sweep (the model's test_cfg has the CRF, if any)
test_evaluator = dict(type='PseudoMaskMetric')
