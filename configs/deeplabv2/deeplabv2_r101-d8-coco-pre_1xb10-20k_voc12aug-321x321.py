# Stage 3 on VOC 2012 (train_aug pseudo masks -> val), DeepLab-v2 ResNet-101
# at output stride 8, as trained by kazuto1011/deeplab-pytorch (voc12.yaml).
#
# Initialisation: COCO-pretrained. The whole network starts from a DeepLab
# ResNet-101 trained on COCO (deeplab-pytorch's INIT_MODEL,
# deeplabv1_resnet101-coco), which many WSSS papers that report DeepLab-v2
# numbers use. It is not comparable with ImageNet initialisation
# (deeplabv2_r101-d8-in1k-pre_...): users name the difference as a source
# of unreproducible numbers (AMN issue #6). Convert the checkpoint to this model's
# keys and put it at the path below (nothing is downloaded), or override
# with --cfg-options load_from=PATH.
_base_ = [
    '../_base_/models/deeplabv2_r101-d8.py',
    '../_base_/datasets/voc12aug_seg.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_seg_poly.py'
]
crop_size = (321, 321)
data_preprocessor = dict(size=crop_size)
model = dict(data_preprocessor=data_preprocessor)
load_from = 'checkpoints/deeplabv2_r101-d8_coco-pretrained.pth'
# final test like the papers: --tta (scales 0.5-1.75 + flip) then the CRF
tta_model = dict(type='CRFSegTTAModel', crf='deeplab-v2')
