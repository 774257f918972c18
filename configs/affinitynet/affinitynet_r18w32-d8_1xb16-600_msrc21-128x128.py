# AffinityNet on the MSRC-21 photographs (CPU): the half-width ResNet-18 at
# output stride 8, from scratch, 600 iterations on 128-px crops; trained
# on confident masks from the saved CAMs of any method
# (data_prefix.cam_path), then the random walk (PSA settings) over the same
# CAMs of the train split. tools/run_pipeline.py sets the CAM folder; by
# hand see the synthetic config.
_base_ = ['./affinitynet_r18w32-d8_1xb16-600_synthetic-96x96.py']
dataset_type = 'WSSSVOCDataset'
data_root = 'data/msrc21'
# the photographs (about 320 x 213) give a 40 x 27 grid at stride 8: the
# walk length scaled from PSA's (t = 256 on 63 x 47) is 256 * 1080 / 2961
# ~ 93, rounded to the power of two 128
model = dict(aff_head=dict(num_classes=21), test_cfg=dict(num_iters=128))
crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    dict(type='CAMsToConfidentMask', fg_thr=0.30, bg_thr=0.05),
    dict(
        type='RandomResize',
        scale=(320, 320),
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
    dict(type='LoadCAMs'),
    # the saved CAMs as data fields (what the random walk refines)
    dict(type='PackWSSSInputs', algorithm_keys=('cams', 'cam_labels')),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        label_source='mask',
        file_suffixes=dict(cam_path='.npz'),
        pipeline=train_pipeline))
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        label_source='mask',
        file_suffixes=dict(cam_path='.npz'),
        pipeline=test_pipeline))
# the full default sweep (0.05 ... 0.90): walked CAMs of weak classifiers
# peak at high thresholds
test_evaluator = dict(sweep=None)
