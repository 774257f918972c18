# RPNet on the embedded synthetic dataset, at the budget of the CAM baseline
# configs/cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py: the same
# half-width ResNet-18 (output stride 8, from scratch), 600 iterations of 16
# QUERY images, AdamW, the same augmentation and the same stage 2 (scales
# 1.0 / 1.5 / 2.0 + flip, background threshold 0.3). What changes:
# - every query comes with one reference image that shares a class with it
#   (ImageGroupDataset, as RPNet's code; a background-only query is its own
#   reference), so a step forwards 32 images: the budget is equal in
#   optimiser steps and query images, not in forward passes (the RPNet
#   README gives the measured cost ratio);
# - the head is RegionPrototypeHead: prototypes of blocks 2 and 4 (the
#   backbone's outputs 1 and 3), each reduced to 256 channels (the paper),
#   threshold 0.3, Bernoulli 0.5 dropping, cosine-max map, 5x5 Gaussian
#   (sigma 3), a classification loss on the enhanced branch (paper); the
#   consistency loss takes the reference code's form (mean squared
#   difference of the max-normalised CAMs, lambda 10) because the paper's
#   eq. 13 sums squared feature differences without a normalisation.
# Inference is the CAM path: no reference image.
_base_ = ['../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py']
model = dict(
    backbone=dict(out_indices=(1, 3)),
    cam_head=dict(
        _delete_=True,
        type='RegionPrototypeHead',
        in_channels=(64, 256),
        num_classes=5,
        in_index=-1,
        levels=(0, 1),
        channels=256,
        loss_consistency=dict(
            type='PrototypeConsistencyLoss',
            mode='cam',
            reduction='mean',
            loss_weight=10.0)))
train_dataloader = dict(
    collate_fn=dict(type='group_collate'),
    dataset=dict(
        _delete_=True,
        type='ImageGroupDataset',
        num_references=1,
        dataset={{_base_.train_dataloader.dataset}}))
