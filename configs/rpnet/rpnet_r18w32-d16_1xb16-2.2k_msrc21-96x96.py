# RPNet on the MSRC-21 photographs, at the budget of the CAM baseline
# configs/cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py (half-width
# ResNet-18 from scratch, output stride 16, 2,200 iterations of 16 query
# images, AdamW lr 1e-3 / weight decay 0.05, the same stage 2). The head and
# the groups are those of the synthetic config
# ./rpnet_r18w32-d8_1xb16-600_synthetic-96x96.py (one reference per query;
# the consistency loss in the reference code's form). Point it at the data
# with --data-root.
_base_ = ['../cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py']
model = dict(
    backbone=dict(out_indices=(1, 3)),
    cam_head=dict(
        _delete_=True,
        type='RegionPrototypeHead',
        in_channels=(64, 256),
        num_classes=20,
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
