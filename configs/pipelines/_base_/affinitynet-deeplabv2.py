# The CAM-style chain of ./cam-deeplabv2.py with AffinityNet (PSA) as the
# refinement instead of the dense CRF: refinement_train learns pixel
# affinities from confident regions of the pseudo-mask stage's saved maps,
# refinement propagates the same maps by a random walk.
#
# A pipeline that inherits this graph names its stage configs:
#   configs = dict(classifier=..., refiner=..., segmentation=...)
_base_ = ['./cam-deeplabv2.py']
stages = dict(
    # runs after pseudo_masks and before refinement (stages are ordered by
    # their inputs)
    refinement_train=dict(
        kind='train',
        config='refiner',
        inputs={
            'train_dataloader.dataset.data_prefix.cam_path':
            'pseudo_masks.maps'
        }),
    refinement=dict(
        _delete_=True,
        kind='test',
        config='refiner',
        out=True,
        inputs={
            'checkpoint': 'refinement_train.checkpoint',
            'test_dataloader.dataset.data_prefix.cam_path':
            'pseudo_masks.maps'
        },
        report=dict(
            refined_pseudo_mask_mIoU=dict(
                metric='mIoU',
                label='AffinityNet pseudo-mask mIoU (train, propagated bg)'),
            refined_pseudo_mask_oracle_mIoU=dict(
                metric='oracle_mIoU',
                label='AffinityNet pseudo-mask mIoU (train, oracle bg)'))))
