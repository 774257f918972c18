# RPNet on VOC 2012 train_aug with the PAPER's settings (Sec. IV-A):
# ResNeXt-50 32x4d (the ablation backbone, ImageNet init from a local path)
# at output stride 16 by stride, frozen BN statistics; prototypes of blocks
# 2 and 4 reduced to 256 channels (eq. 3), threshold 0.3, Bernoulli 0.5
# dropping that replaces the mask, all prototypes against the last block
# (eq. 7), 5x5 Gaussian (sigma 3), a classification loss on the enhanced
# branch, the squared feature difference L_s with lambda 10 (eq. 13); one
# reference image per query; batch 16 queries, 5 epochs of the 10,582
# images (3,300 iterations), SGD lr 0.02, poly 0.9 per iteration, weight
# decay 1e-4, the head at 10x. Stage 2 is the CAM path (no reference image):
# scales (1.0, 0.5, 1.5, 2.0) + flip, background 0.15 (IRN cam_eval_thres),
# pseudo masks scored on train (1,464).
_base_ = [
    '../_base_/models/rpnet_x50-s16.py', '../_base_/datasets/voc12aug_cls.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_cam_poly.py'
]
optim_wrapper = dict(optimizer=dict(lr=0.02))
train_dataloader = dict(
    collate_fn=dict(type='group_collate'),
    dataset=dict(
        _delete_=True,
        type='ImageGroupDataset',
        num_references=1,
        dataset={{_base_.train_dataloader.dataset}}))
# stage 2 writes the pseudo masks and the CAMs (for IRN or AffinityNet); the
# runtime's hooks (runtime_hooks), then this config's
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook', save_maps=True),
]
