# IRN's semantic refiner on the MSRC-21 photographs, CPU-sized like
# ./irn_r18w32-d8_1xb16-600_synthetic-96x96.py: the frozen backbone is the
# MSRC CAM classifier's (half-width ResNet-18 at output stride 16, layer4
# dilated: configs/cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py, or the
# RPNet one), initialised from its checkpoint (a pipeline maps
# 'model.backbone.init_cfg.checkpoint' to the classifier's checkpoint); the
# boundary head trains for 600 iterations on 96-px crops of IRN's seeds.
# The walk length follows the grid as on the synthetic set: IRN's t = 256
# on 11,750 nodes spreads as far, relative to the image, as
# 256 * 4,320 / 11,750 ~ 94 on MSRC's 80 x 54 stride-4 grid (about
# 320 x 213 images), rounded to the power of two 128 (a-priori, not tuned).
# Point it at the data with --data-root.
_base_ = ['./irn_r18w32-d8_1xb16-600_synthetic-96x96.py']
dataset_type = 'WSSSVOCDataset'
data_root = 'data/msrc21'
model = dict(
    backbone=dict(
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        init_cfg=dict(
            checkpoint=('work_dirs/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96/'
                        'iter_2200.pth'))),
    boundary_head=dict(num_classes=21),
    test_cfg=dict(num_iters=128))
crop_size = (96, 96)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    dict(type='CAMsToConfidentMask', fg_thr=0.30, bg_thr=0.05, crf='irn'),
    # long side in [96, 320] (the photographs are about 320 x 213), as the
    # MSRC classifier
    dict(
        type='RandomResize',
        scale=(320, 320),
        ratio_range=(0.3, 1.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='LoadCAMs'),
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
test_evaluator = dict(
    sweep=[0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
