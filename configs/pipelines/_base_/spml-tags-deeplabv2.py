# The chain of SPML from image tags (the code's tag route, round 1):
# ./spml-cams-deeplabv2.py, with the CAMs as the seeds of the walk
# (pseudo_masks, test_cfg.seed='cams') and one more stage before DeepLab-v2:
#
# nn_masks: the nearest-prototype labelling (prototype_msc.py,
#   pseudo_inference_crf_msc.py): the embedding's test pass with
#   test_cfg.seed='prototypes' and no walk after it (num_iters=0, as the
#   code); before it, FitModelStateHook fits the bank of segment prototypes
#   of the train images labelled by the pseudo_masks stage's masks
#   (model.prototype_dataloader), saved in the stage folder as
#   spml_prototypes.pth. DeepLab-v2 trains on these masks.
#
# A pipeline that inherits this graph names its stage configs:
#   configs = dict(classifier=..., embedding=..., segmentation=...)
# (the embedding config needs model.prototype_dataloader and
# FitModelStateHook, as configs/spml/spml-tags_*.py have them).
_base_ = ['./spml-cams-deeplabv2.py']
_CAMS = 'test_dataloader.dataset.data_prefix.cam_path'
stages = dict(
    pseudo_masks=dict(inputs={_CAMS: 'cams.maps'}),
    nn_masks=dict(
        kind='test',
        config='embedding',
        out=True,
        inputs={
            'checkpoint': 'embedding.checkpoint',
            _CAMS: 'cams.maps',
            'model.prototype_dataloader.dataset.data_prefix.seg_map_path':
            'pseudo_masks.masks'
        },
        cfg_options={
            'model.test_cfg.seed': 'prototypes',
            'model.test_cfg.num_iters': 0
        },
        report=dict(
            nn_mask_mIoU=dict(
                metric='mIoU',
                label='SPML nearest-prototype mask mIoU (train, '
                'propagated bg)'),
            nn_mask_oracle_mIoU=dict(
                metric='oracle_mIoU',
                label='SPML nearest-prototype mask mIoU (train, oracle bg)'),
            nn_mask_gt_free_mIoU=dict(
                metric='gt_free_mIoU',
                label='SPML nearest-prototype mask mIoU (train, GT-free '
                'bg)'))),
    segmentation=dict(
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'nn_masks.masks'
        }),
)
