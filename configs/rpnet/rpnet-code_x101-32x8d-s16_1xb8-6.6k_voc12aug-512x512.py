# RPNet on VOC 2012 train_aug with the REFERENCE CODE's settings
# (liuweide01/RPNet-Weakly-Supervised-Segmentation, step/train_cam.py,
# net/resnet50_cam.py): ResNeXt-101 32x8d (torchvision weights from a local
# path), batch 8, 5 epochs (6,600 iterations), SGD lr 0.02 with momentum
# 1e-4 (the code passes weight decay as SGD's third positional argument,
# momentum), weight decay 1e-4; layer4 reduced to 512 channels, layer2 raw,
# the layer4 mask for both levels, threshold >= 0.3, dropped prototypes
# added to the full ones, each level against its own prototypes, x1.3 after
# the max-normalisation, dot-product self-attention on both branches, no
# classification loss on the enhanced branch, L_s = 10 x MSE of the
# max-normalised CAMs. Not reproduced: the separate heads of the reference
# image and the 4-scale average of the enhanced maps (see
# RegionPrototypeHead).
_base_ = ['./rpnet_x50-32x4d-s16_1xb16-3.3k_voc12aug-512x512.py']
model = dict(
    backbone=dict(
        depth=101,
        base_width=8,
        init_cfg=dict(
            checkpoint='data/pretrained/resnext101_32x8d-torchvision.pth')),
    cam_head=dict(
        channels=512,
        reduce_levels='cam',
        attention_cfg=dict(
            mode='dot_product', norm_cfg=dict(type='BN'), zeros_init=True),
        prototype_cfg=dict(
            inclusive=True,
            drop_mode='add',
            mask_source='last',
            compare_to='same',
            rescale=1.3),
        loss_enhanced_cls=None,
        loss_consistency=dict(
            type='PrototypeConsistencyLoss',
            mode='cam',
            reduction='mean',
            loss_weight=10.0)))
train_dataloader = dict(batch_size=8)
max_iters = 6600
optim_wrapper = dict(optimizer=dict(lr=0.02, momentum=1e-4))
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
