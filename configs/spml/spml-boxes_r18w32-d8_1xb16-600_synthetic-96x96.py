# SPML from bounding boxes on the embedded synthetic dataset, CPU-sized: the
# half-width ResNet-18 of the CAM configs (output stride 8, embeddings at
# stride 4), trained from scratch for 600 iterations with the CPU AdamW
# schedule (SPML: SGD lr 3e-3, 30k iterations on ImageNet weights).
#
# Weak label (paper A.2, method notes 3.8): the CAM of the box's class,
# min-max normalised inside the box, foreground where >= 0.5, background
# outside every box, the rest unlabelled (254); the CAMs are those of the
# CAM baseline's test pass, read from data_prefix.cam_path. Loss: the
# code's VOC box setting (w_A / w_C / w_I = 0.3 / 0.3 / 0.1, kappa 6 / 8 /
# 16; paper Table 5: w_A 1, w_C 1.0, w_I 0.3).
#
# Prerequisites (configs/pipelines/pipeline_spml-boxes-deeplabv2_synthetic.py
# makes both and runs the whole chain), by hand:
#   1. the CAM baseline's CAMs: configs/cam/cam_r18w32-d8_1xb16-600_
#      synthetic-96x96.py, tools/test.py ... --out MASKS (writes MASKS/cams)
#   2. the region maps of the over-segmentation:
#      python tools/dataset_converters/oversegment.py \
#          data/synthetic_wsss/JPEGImages data/synthetic_wsss/Regions \
#          --min-size 20
#   python tools/train.py CONFIG --cfg-options \
#       train_dataloader.dataset.data_prefix.cam_path=$PWD/MASKS/cams
#   python tools/test.py CONFIG CKPT --out OUT
# Testing writes and scores the pseudo masks of the train split: the
# auxiliary classifier's softmax (background and the image's classes, each
# over its maximum) walked on the embedding (pseudo_softmaxrw_crf.py).
_base_ = [
    '../_base_/models/spml_r18.py', '../_base_/datasets/synthetic_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_adamw-poly_cpu.py'
]
num_classes = 6
model = dict(
    backbone=dict(stem_channels=32, base_channels=32),
    embedding_head=dict(in_channels=256),
    loss=dict(num_classes=num_classes),
    classifier=dict(num_classes=num_classes))
crop_size = (96, 96)
classes = ('background', 'aeroplane', 'boat', 'car', 'person', 'cat')
weak_label = dict(type='LoadBoxWeakLabel', classes=classes, threshold=0.5)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    weak_label,
    dict(type='LoadRegionMap'),
    dict(
        type='RandomResize',
        scale=(96, 96),
        ratio_range=(0.75, 1.25),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs', pixel_keys=('gt_weak_seg', 'gt_region_map')),
]
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(
            img_path='JPEGImages',
            seg_map_path='SegmentationClass',
            box_path='Annotations',
            region_path='Regions'),
        file_suffixes=dict(cam_path='.npz', box_path='.xml'),
        pipeline=train_pipeline))
# no validation: the model is judged by its pseudo masks (test)
val_dataloader = None
val_evaluator = None
val_cfg = None
train_cfg = dict(val_interval=601)
test_evaluator = dict(
    _delete_=True,
    type='PseudoMaskMetric',
    sweep=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
# a checkpoint every 200 iterations (the last one kept): an interrupted
# embedding (tools/train.py --resume, or a rerun of its pipeline) goes on
# from there instead of from the start
default_hooks = dict(
    checkpoint=dict(interval=200, max_keep_ckpts=1),
    visualization=dict(type='SegVisualizationHook', draw=False))
# testing writes the masks and the walked maps
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook', save_maps=True),
]
