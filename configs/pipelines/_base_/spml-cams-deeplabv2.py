# The chain of SPML from image tags or boxes: ./spml-deeplabv2.py with the
# CAMs its weak labels are made of (SPML's tag and box labels come from the
# CAMs of a CAM classifier): classifier (the CAM baseline) -> cams (its
# test pass on the train split, CAMs saved as maps, scored as CAM pseudo
# masks for comparison) -> regions -> embedding (reads the CAMs) ->
# pseudo_masks -> segmentation -> test / test_tta.
#
# A pipeline that inherits this graph names its stage configs:
#   configs = dict(classifier=..., embedding=..., segmentation=...)
# Tags also seed the pseudo masks with the CAMs (test_cfg.seed='cams'):
#   stages = dict(pseudo_masks=dict(inputs={
#       'test_dataloader.dataset.data_prefix.cam_path': 'cams.maps'}))
_base_ = ['./spml-deeplabv2.py']
stages = dict(
    classifier=dict(_delete_=True, kind='train', config='classifier'),
    cams=dict(
        kind='test',
        config='classifier',
        out=True,  # the masks and the CAMs (maps)
        inputs=dict(checkpoint='classifier.checkpoint'),
        cfg_options={'model.test_cfg.crf': None},
        report=dict(
            cam_pseudo_mask_mIoU=dict(
                metric='mIoU',
                label='CAM pseudo-mask mIoU (train, configured bg)'))),
    embedding=dict(
        inputs={
            'train_dataloader.dataset.data_prefix.cam_path': 'cams.maps'
        }),
)
