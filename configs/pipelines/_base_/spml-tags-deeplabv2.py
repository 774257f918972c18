# The chain of SPML from image tags (the code's tag route, two rounds):
# ./spml-cams-deeplabv2.py, with the CAMs as the seeds of the walk
# (pseudo_masks, test_cfg.seed='cams'), then before DeepLab-v2:
#
# round 1, nn_masks: the nearest-prototype labelling (prototype_msc.py,
#   pseudo_inference_crf_msc.py): the embedding's test pass with
#   test_cfg.seed='prototypes' and no walk after it (num_iters=0, as the
#   code); before it, FitModelStateHook fits the bank of segment prototypes
#   of the train images labelled by the pseudo_masks stage's masks
#   (model.prototype_dataloader), saved in the stage folder as
#   spml_prototypes.pth;
# round 2 (train_classifier.py, pseudo_softmax.py, then the prototypes
#   again): classifier_round (the softmax classifier retrained on the
#   frozen embedding against nn_masks) -> round2_masks (its softmax, one
#   transition on the embedding) -> round2_nn_masks (the bank labelled by
#   the round-2 masks, the nearest prototypes again). DeepLab-v2 trains on
#   round2_nn_masks (it stands in for the code's last classifier).
#
# A pipeline that inherits this graph names its stage configs:
#   configs = dict(classifier=..., embedding=..., classifier_round=...,
#                  segmentation=...)
# (the embedding config needs model.prototype_dataloader and
# FitModelStateHook, as configs/spml/spml-tags_*.py have them;
# classifier_round is configs/spml/spml-tags-round2_*.py).
_base_ = ['./spml-cams-deeplabv2.py']
_CAMS = 'test_dataloader.dataset.data_prefix.cam_path'
_BANK_LABELS = 'model.prototype_dataloader.dataset.data_prefix.seg_map_path'


def _rows(prefix, what, gt_free=True):
    rows = dict(
        mIoU=f'SPML {what} mask mIoU (train, propagated bg)',
        oracle_mIoU=f'SPML {what} mask mIoU (train, oracle bg)')
    if gt_free:
        rows['gt_free_mIoU'] = f'SPML {what} mask mIoU (train, GT-free bg)'
    return {
        f'{prefix}_{metric}': dict(metric=metric, label=label)
        for metric, label in rows.items()
    }


def _nearest_prototypes(labelled_by, prefix, what):
    """The embedding's test pass with the bank labelled by a stage's
    masks, no walk after the labelling (as the code)."""
    return dict(
        kind='test',
        config='embedding',
        out=True,
        inputs={
            'checkpoint': 'embedding.checkpoint',
            _CAMS: 'cams.maps',
            _BANK_LABELS: f'{labelled_by}.masks'
        },
        cfg_options={
            'model.test_cfg.seed': 'prototypes',
            'model.test_cfg.num_iters': 0
        },
        report=_rows(prefix, what))


stages = dict(
    pseudo_masks=dict(inputs={_CAMS: 'cams.maps'}),
    nn_masks=_nearest_prototypes('pseudo_masks', 'nn_mask',
                                 'nearest-prototype'),
    classifier_round=dict(
        kind='train',
        config='classifier_round',
        inputs={
            'load_from': 'embedding.checkpoint',
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'nn_masks.masks'
        }),
    round2_masks=dict(
        kind='test',
        config='classifier_round',
        out=True,
        inputs=dict(checkpoint='classifier_round.checkpoint'),
        report=_rows('round2_mask', 'round-2 classifier', gt_free=False)),
    round2_nn_masks=_nearest_prototypes('round2_masks', 'round2_nn_mask',
                                        'round-2 nearest-prototype'),
    segmentation=dict(
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'round2_nn_masks.masks'
        }),
)
