# The CAM baseline of RPNet at equal settings: the backbone, layout and
# schedule of configs/rpnet/rpnet_x50-32x4d-s16_1xb16-3.3k_voc12aug-512x512.py
# (ResNeXt-50 32x4d at output stride 16 by stride, as IRN/RPNet: layer4
# neither strided nor dilated; frozen BN statistics and blocks 1-2; batch
# 16, 3,300 iterations, SGD lr 0.02, poly; the head at 10x), with the plain
# CAM head on block 4. The reduced-data variants
# (cam_x50-32x4d-s16_*_voc12aug-1of*) inherit it.
_base_ = [
    '../_base_/models/rpnet_x50-s16.py', '../_base_/datasets/voc12aug_cls.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_cam_poly.py'
]
model = dict(
    backbone=dict(out_indices=(3, )),
    cam_head=dict(
        _delete_=True, type='CAMHead', in_channels=2048, num_classes=20))
optim_wrapper = dict(optimizer=dict(lr=0.02))
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook', save_maps=True),
]
