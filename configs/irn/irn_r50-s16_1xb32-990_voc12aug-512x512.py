# IRN's semantic refiner on VOC 2012 with the reference settings
# (jiwoon-ahn/irn step/train_irn.py, step/make_sem_seg_labels.py): a frozen
# ImageNet ResNet-50 at output stride 16 by stride, five taps to 32 channels
# (GroupNorm 4), boundaries at stride 4 learnt from pairs within radius 10;
# batch 32, 3 epochs (990 iterations of train_aug), crop 512, scale
# 0.5-1.5, flip, SGD lr 0.1 with momentum 1e-4 (IRN's PolyOptimizer passes
# weight decay as SGD's momentum argument), weight decay 1e-4, poly 0.9.
# Seeds: argmax over [0.30, CAMs] and over [0.05, CAMs], each through IRN's
# label CRF (step/cam_to_ir_label.py). Inference: flip-averaged boundary
# logits, path-max affinities within radius 5, random walk beta 10, t 256,
# global max normalisation, background 0.25 after the walk.
# It refines the CAMs of any method saved by the pseudo-mask stage
# (PredictionWriterHook save_maps=True) given as data_prefix.cam_path, e.g.
#   configs/pipelines/pipeline_rpnet-irn-deeplab-largefov_x50_voc12aug.py
# The seeds' CRF runs in the data loader (about 1 s per VOC image); they are
# computed once per image and CAM file and cached in work_dirs/irn_seeds
# (IRN computes them once, offline).
_base_ = [
    '../_base_/models/irn_r50.py', '../_base_/datasets/voc12aug_cls.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_cam_poly.py'
]
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    # IRN's seeds, on the image at the CAMs' size (before any resize)
    dict(
        type='CAMsToConfidentMask',
        fg_thr=0.30,
        bg_thr=0.05,
        crf='irn',
        cache_dir='work_dirs/irn_seeds'),
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
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
    batch_size=32,
    dataset=dict(
        # CAMs exist for the pseudo-mask split (train, 1,464 images). IRN
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
max_iters = 990
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=1e-4, weight_decay=1e-4),
    paramwise_cfg=None)
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
default_hooks = dict(
    checkpoint=dict(interval=max_iters),
    visualization=dict(type='SegVisualizationHook', draw=False))
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook'),
]
