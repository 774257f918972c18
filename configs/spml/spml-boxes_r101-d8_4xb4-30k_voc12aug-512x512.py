# SPML (Ke et al., ICLR 2021) from bounding boxes on PASCAL VOC 2012 + aug,
# the reference code's setting (twke18/SPML, method notes 3.1, 3.6, 3.10):
# ResNet-101 with a deep stem (mmseg ResNetV1c; the code loads the
# EMANet/PSPNet "resnet-101-cuhk" weights of the same layout), output
# stride 8 with contracted dilations 2/4, stem and res2 frozen (not in the
# code's optimiser); ASPP-sum 6/12/18/24 -> 64-d, bilinear x2 (stride 4),
# unit embeddings; 30k iterations of 4 GPUs x 4 images, crop 512,
# SGD lr 3e-3 (momentum 0.9, weight decay 5e-4, none on biases), head 10x,
# poly 0.9 after a 100-iteration warm-up; seed 235.
#
# Weak label: the box-wise CAMs (CAM in each box min-max normalised,
# foreground >= 0.5, outside the boxes background, the rest unlabelled;
# the code's seambox_a6_th0.5 from SEAM CAMs): set
# train_dataloader.dataset.data_prefix.cam_path to a CAM method's saved
# CAMs. Region maps: tools/dataset_converters/oversegment.py into
# data_root/Regions (the code uses HED-owt-ucm regions, not released as a
# tool here; felzenszwalb by default).
# Loss weights / concentrations (code, VOC boxes): w_A / w_C / w_I =
# 0.3 / 0.3 / 0.1, kappa_A / kappa_C / kappa_I = 6 / 8 / 16. Paper
# Table 5: w_A = 1, w_C = 1.0, w_I = 0.3 (same ratios up to a global
# scale, but w_I / w_A is 0.33 in the code).
# Pseudo masks (tools/test.py on train): the auxiliary classifier's softmax
# walked on the embedding, then the dense CRF (pseudo_softmaxrw_crf.py);
# the code then trains a softmax classifier on the frozen embedding from
# those masks (train_stage='classifier'; configured for the tag route on
# the CPU sets only: spml-tags-round2_*.py).
_base_ = [
    '../_base_/models/spml_r18.py', '../_base_/datasets/voc12aug_cls.py',
    '../_base_/default_runtime.py'
]
model = dict(
    backbone=dict(
        type='ResNetV1c',
        depth=101,
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        contract_dilation=True,
        frozen_stages=1,
        # the code: BN momentum 3e-4 in train mode, SyncBN on 4 GPUs
        norm_cfg=dict(type='SyncBN', requires_grad=True, momentum=3e-4),
        norm_eval=False,
        init_cfg=dict(
            _delete_=True,
            type='Pretrained',
            checkpoint='open-mmlab://resnet101_v1c')),
    embedding_head=dict(
        in_channels=2048, embed_dims=64, dilations=(6, 12, 18, 24)),
    loss=dict(num_classes=21, kmeans_grid=(6, 6)),
    classifier=dict(num_classes=21),
    test_cfg=dict(seed='softmax', crf='deeplab-v2'))
crop_size = (512, 512)
classes = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle',
           'bus', 'car', 'cat', 'chair', 'cow', 'diningtable', 'dog',
           'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
           'train', 'tvmonitor')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    dict(type='LoadBoxWeakLabel', classes=classes, threshold=0.5),
    dict(type='LoadRegionMap'),
    # the code: random_resize(0.5, 1.5), crop 512 (pad: image mean, label
    # 255), flip
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs', pixel_keys=('gt_weak_seg', 'gt_region_map')),
]
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        data_prefix=dict(
            img_path='JPEGImages', box_path='Annotations',
            region_path='Regions'),
        file_suffixes=dict(cam_path='.npz', box_path='.xml'),
        pipeline=train_pipeline))
val_dataloader = None
val_evaluator = None
val_cfg = None
max_iters = 30000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=3e-3, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(
        bias_decay_mult=0.0,
        custom_keys={
            'embedding_head': dict(lr_mult=10.0),
            'classifier': dict(lr_mult=10.0)
        }),
    clip_grad=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=100, by_epoch=False),
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=100, by_epoch=False)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters + 1)
test_cfg = dict(type='ResumableTestLoop')
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000),
    visualization=dict(type='SegVisualizationHook', draw=False))
randomness = dict(seed=235)
test_evaluator = dict(
    _delete_=True,
    type='PseudoMaskMetric',
    sweep=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook', save_maps=True),
]
