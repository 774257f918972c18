# SPML from labelled points on the MSRC-21 photographs (VOC classes, 393
# train images), CPU-sized: the half-width ResNet-18 of the MSRC-21 CAM
# baseline (configs/cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py) at its
# output stride 16 (embeddings at stride 8: 12 x 12 per crop), trained from
# scratch for its 2,200 iterations of 16 crops of 96 px with its learning
# rate and weight decay, so that the two compare at an equal budget of
# optimiser steps and images. (Output stride 8, as the synthetic configs,
# took 7-9 s an iteration on one shared CPU thread: hours for one run.)
#
# Weak label: MSRC-21 has no point annotations. The `points_boxes` stage of
# configs/pipelines/pipeline_spml-points-deeplabv2_msrc21.py derives them
# from the train masks (tools/dataset_converters/masks_to_points_boxes.py:
# one click per connected component of a class, background included, in
# the component's inner half, seeded) and sets data_prefix.point_path to
# its folder. Each point is dilated by 4 px (the code dilates VOC points by
# 6 px on images of about 500 x 375; these are about 320 x 213), the rest
# is unlabelled (254). Loss: the code's VOC point setting (w_A / w_C / w_I =
# 0.1 / 0.1 / 0.1, kappa 6 / 8 / 16; paper Table 5: 1 / 1.0 / 1.0).
#
# Regions: the `oversegment` stage (felzenszwalb) sets data_prefix.
# region_path. By hand, with the data at data/msrc21:
#   python tools/dataset_converters/masks_to_points_boxes.py data/msrc21 \
#       work_dirs/msrc21_weak --list data/msrc21/ImageSets/Segmentation/train.txt
#   python tools/dataset_converters/oversegment.py CONFIG work_dirs/msrc21_regions
#   python tools/train.py CONFIG --cfg-options \
#       train_dataloader.dataset.data_prefix.point_path=$PWD/work_dirs/msrc21_weak/Points \
#       train_dataloader.dataset.data_prefix.region_path=$PWD/work_dirs/msrc21_regions
# Testing writes and scores the pseudo masks of the train split (the
# auxiliary classifier's softmax walked on the embedding).
_base_ = [
    '../_base_/models/spml_r18.py', '../_base_/datasets/msrc21_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_adamw-poly_cpu.py'
]
num_classes = 21
model = dict(
    backbone=dict(
        stem_channels=32,
        base_channels=32,
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2)),
    embedding_head=dict(in_channels=256),
    loss=dict(
        num_classes=num_classes,
        sem_ann_weight=0.1,
        sem_occ_weight=0.1,
        img_sim_weight=0.1),
    classifier=dict(num_classes=num_classes))
crop_size = (96, 96)
weak_label = dict(type='LoadPointWeakLabel', num_classes=num_classes, radius=4)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    weak_label,
    dict(type='LoadRegionMap'),
    # long side in [96, 320], as the MSRC-21 CAM baseline
    dict(
        type='RandomResize',
        scale=(320, 320),
        ratio_range=(0.3, 1.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackWSSSInputs', pixel_keys=('gt_weak_seg', 'gt_region_map')),
]
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(
            img_path='JPEGImages',
            seg_map_path='SegmentationClass',
            point_path='Points',
            region_path='Regions'),
        file_suffixes=dict(point_path='.png'),
        pipeline=train_pipeline))
max_iters = 2200
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05))
# no validation: the model is judged by its pseudo masks (test)
val_dataloader = None
val_evaluator = None
val_cfg = None
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
test_evaluator = dict(
    _delete_=True,
    type='PseudoMaskMetric',
    sweep=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
# a checkpoint every 200 iterations (the last one kept): an interrupted
# run (tools/train.py --resume, or a rerun of its pipeline) goes on from
# there
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=200, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=False))
# testing writes the masks and the walked maps
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook', save_maps=True),
]
