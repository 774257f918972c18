# RPNet on MS COCO 2014 train (82,081 images, 80 classes) with the paper's
# settings of ./rpnet_x50-32x4d-s16_1xb16-3.3k_voc12aug-512x512.py: batch 16
# queries, 5 epochs (25,650 iterations), SGD lr 0.02, poly.
_base_ = [
    '../_base_/models/rpnet_x50-s16.py', '../_base_/datasets/coco14_cls.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_cam_poly.py'
]
model = dict(cam_head=dict(num_classes=80))
max_iters = 25650
optim_wrapper = dict(optimizer=dict(lr=0.02))
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=5000))
train_dataloader = dict(
    collate_fn=dict(type='group_collate'),
    dataset=dict(
        _delete_=True,
        type='ImageGroupDataset',
        num_references=1,
        dataset={{_base_.train_dataloader.dataset}}))
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook', save_maps=True),
]
