# Stage 3 on MS COCO 2014 (train2014 pseudo masks -> val2014, 81 classes),
# DeepLab-v2 ResNet-101 at output stride 8.
#
# Initialisation: ImageNet-1k backbone (COCO initialisation would leak the
# target data set's masks). Put the weights at the path below; nothing is
# downloaded.
_base_ = [
    '../_base_/models/deeplabv2_r101-d8.py',
    '../_base_/datasets/coco14_seg.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_seg_poly.py'
]
crop_size = (321, 321)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/resnet101_in1k.pth')),
    decode_head=dict(num_classes=81))
max_iters = 100000
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=10000)
default_hooks = dict(checkpoint=dict(interval=10000))
tta_model = dict(type='CRFSegTTAModel', crf='deeplab-v2')
