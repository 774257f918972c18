# CPU stage 3 on MSRC-21 photographs: DeepLab-v2 (ASPP-sum head) on a
# half-width ResNet-18 at output stride 8, trained from scratch on the
# pseudo masks of the train split (393 images) for 1,000 iterations on
# 128 x 128 crops (about 14 minutes on 2 cores), validated and tested on the
# real val masks (198). No ImageNet or COCO weights exist here: init_cfg is
# None, BatchNorm is trained. Set the data location with --data-root.
# Run by configs/pipelines/pipeline_cam-deeplabv2_msrc21.py.
_base_ = [
    '../_base_/models/deeplabv2_r101-d8.py',
    '../_base_/datasets/msrc21_seg.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_adamw-poly_cpu.py'
]
crop_size = (128, 128)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        depth=18,
        stem_channels=32,
        base_channels=32,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False),
    decode_head=dict(in_channels=256))
max_iters = 1000
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05))
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=50), checkpoint=dict(interval=max_iters))
tta_model = dict(type='CRFSegTTAModel', crf=None)
