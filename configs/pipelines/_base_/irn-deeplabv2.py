# The CAM-style chain of ./cam-deeplabv2.py with IRN's semantic refiner
# (boundaries + random walk) instead of the dense CRF: the stages of
# ./affinitynet-deeplabv2.py (refinement_train learns class boundaries from
# IRN's seeds of the pseudo-mask stage's saved maps; refinement walks the
# same maps), reported as IRN's masks (background 0.25 after the walk).
# Refiners are interchangeable: the two graphs differ only in the refiner
# config and these labels.
#
# A pipeline that inherits this graph names its stage configs:
#   configs = dict(classifier=..., refiner=..., segmentation=...)
# IRN's backbone is frozen: on CPU configs without ImageNet weights it is
# initialised from the classifier, an extra input of refinement_train:
#   stages = dict(refinement_train=dict(inputs={
#       'model.backbone.init_cfg.checkpoint': 'classifier.checkpoint'}))
_base_ = ['./affinitynet-deeplabv2.py']
stages = dict(
    refinement=dict(
        report=dict(
            _delete_=True,
            refined_pseudo_mask_mIoU=dict(
                metric='mIoU',
                label='IRN pseudo-mask mIoU (train, bg 0.25 after the walk)'),
            refined_pseudo_mask_oracle_mIoU=dict(
                metric='oracle_mIoU',
                label='IRN pseudo-mask mIoU (train, oracle bg)'),
            refined_pseudo_mask_gt_free_mIoU=dict(
                metric='gt_free_mIoU',
                label='IRN pseudo-mask mIoU (train, GT-free bg)'))))
