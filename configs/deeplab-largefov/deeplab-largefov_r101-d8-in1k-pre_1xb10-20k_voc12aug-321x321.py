# Stage 3 on VOC 2012 with the DeepLab-v1 LargeFOV head (fc6 3x3 dilation 12,
# fc7 1x1, 1024 channels) on ResNet-101 at output stride 8.
#
# Initialisation: ImageNet-1k backbone (put the weights at the path below;
# nothing is downloaded). The original LargeFOV used a VGG-16 backbone.
_base_ = [
    '../_base_/models/deeplab-largefov_r101-d8.py',
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
