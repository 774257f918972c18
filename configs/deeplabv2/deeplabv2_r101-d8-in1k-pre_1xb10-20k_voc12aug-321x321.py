# Stage 3 on VOC 2012 (train_aug pseudo masks -> val), DeepLab-v2 ResNet-101
# at output stride 8 with the deeplab-pytorch schedule (voc12.yaml).
#
# Initialisation: ImageNet-1k only. The backbone starts from ImageNet
# ResNet-101 weights (e.g. torchvision's resnet101, keys converted to
# mmseg's ResNet), the ASPP head from N(0, 0.01). Papers that say "ImageNet
# pretrained" (SPML, RPNet's IRN-based stage) compare with this; COCO
# initialisation (deeplabv2_r101-d8-coco-pre_...) is a different, stronger
# setting. Put the weights at the path below; nothing is downloaded.
_base_ = [
    '../_base_/models/deeplabv2_r101-d8.py',
    '../_base_/datasets/voc12aug_seg.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_seg_poly.py'
]
crop_size = (321, 321)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/resnet101_in1k.pth')))
tta_model = dict(type='CRFSegTTAModel', crf='deeplab-v2')
