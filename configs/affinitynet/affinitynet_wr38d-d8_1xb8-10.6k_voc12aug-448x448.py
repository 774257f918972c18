# AffinityNet (PSA) on PASCAL VOC 2012 aug with the reference settings
# (jiwoon-ahn/psa train_aff.py / infer_aff.py): ResNet-38d features conv4,
# conv5, conv6 (levels 3, 4, 5), 10.6k iterations at batch 8 (PSA: 8 epochs
# of train_aug), crop 448, SGD lr 0.1 (x10 for the new layers), weight decay
# 5e-4, poly; pairs within radius 5; random walk beta 8, t 256, background
# (1 - max)^16. It refines the CAMs of any method saved by the pseudo-mask
# stage (PredictionWriterHook save_maps=True) given as data_prefix.cam_path,
# e.g. EPS's:
#   configs/pipelines/pipeline_eps-affinitynet-deeplabv2_wr38d_voc12aug.py
# Training labels: confident masks from those CAMs (fg >= 0.30, bg < 0.05,
# uncertain in between; IRN's levels, no CRF).
_base_ = [
    '../_base_/models/affinitynet_wr38d.py',
    '../_base_/datasets/voc12aug_cls.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_cam_poly.py'
]
crop_size = (448, 448)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    dict(type='CAMsToConfidentMask', fg_thr=0.30, bg_thr=0.05),
    dict(
        type='RandomResize',
        scale=(768, 768),
        ratio_range=(448 / 768, 1.0),
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
    batch_size=8,
    dataset=dict(
        # CAMs exist for the pseudo-mask split (train, 1,464 images). PSA
        # trains on train_aug CAMs: run the pseudo-mask stage on
        # train_aug.txt and set ann_file to it for the reference setting.
        ann_file='ImageSets/Segmentation/train.txt',
        file_suffixes=dict(cam_path='.npz'),
        pipeline=train_pipeline))
test_dataloader = dict(
    dataset=dict(
        file_suffixes=dict(cam_path='.npz'), pipeline=test_pipeline))
val_dataloader = None
val_evaluator = None
val_cfg = None
test_evaluator = dict(_delete_=True, type='PseudoMaskMetric')
max_iters = 10600
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'aff_head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
default_hooks = dict(
    checkpoint=dict(interval=max_iters),
    visualization=dict(type='SegVisualizationHook', draw=False))
# testing writes the refined masks (tools/test.py --out DIR, default
# <work_dir>/predictions); the runtime's hooks (runtime_hooks), then this
# config's
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook'),
]
