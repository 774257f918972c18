# MS COCO 2014 as 81-class semantic segmentation for CAM-based WSSS.
# Make the label PNGs, split lists and cls_labels_*.npy once with
#   python tools/dataset_converters/coco2014_semantic.py data/coco2014
dataset_type = 'WSSSCOCODataset'
data_root = 'data/coco2014'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResize',
        scale=(640, 640),
        ratio_range=(0.5, 1.0),
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
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/train2014.txt',
        data_prefix=dict(img_path='train2014'),
        cls_label_file='cls_labels_train2014.npy',
        label_source='file',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/val2014.txt',
        data_prefix=dict(
            img_path='val2014', seg_map_path='SegmentationClass81/val2014'),
        cls_label_file='cls_labels_val2014.npy',
        pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/train2014.txt',
        data_prefix=dict(
            img_path='train2014',
            seg_map_path='SegmentationClass81/train2014'),
        cls_label_file='cls_labels_train2014.npy',
        pipeline=test_pipeline))
val_evaluator = [
    dict(type='mmpretrain.AveragePrecision'),
    dict(type='PseudoMaskMetric'),
]
# stage 2 (tools/test.py): the model's pseudo masks, scored with the
# background sweep (the model's test_cfg has the CRF, if any)
test_evaluator = dict(type='PseudoMaskMetric')
