# CPU stage 3 on the embedded synthetic dataset: DeepLab-v2 (ASPP-sum head)
# on a half-width ResNet-18 at output stride 8, trained from scratch on the
# pseudo masks of the train split for 600 iterations (about 5 minutes on 2
# cores), validated and tested on the real val masks. No ImageNet or COCO
# weights exist here: init_cfg is None, BatchNorm is trained.
# Run by configs/pipelines/pipeline_cam-deeplabv2_synthetic.py.
_base_ = [
    '../_base_/models/deeplabv2_r101-d8.py',
    '../_base_/datasets/synthetic_seg.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_adamw-poly_cpu.py'
]
crop_size = (96, 96)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        depth=18,
        stem_channels=32,
        base_channels=32,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False),
    decode_head=dict(in_channels=256, num_classes=6))
default_hooks = dict(logger=dict(interval=50))
# final test: --tta (scales 1.0 and 1.25 + flip, chosen on the val split: see
# ../_base_/datasets/synthetic_seg.py), optionally --cfg-options tta_model.crf=NAME
tta_model = dict(type='CRFSegTTAModel', crf=None)
