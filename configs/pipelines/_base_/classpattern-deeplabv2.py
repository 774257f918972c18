# The chain of the class-pattern method (Luo & Yang, AAAI 2020):
# classifier -> pseudo_masks (one pass fits the class patterns, model state
# saved as class_patterns.pth, then Algorithm 1 writes the masks of the
# train split) -> segmentation -> relabel_1 (the model's labels fill the
# uncertain pixels) -> segmentation_1 (trained again from scratch) ->
# test / test_tta of the last model.
#
# The CAM chain of ./cam-deeplabv2.py with the class-pattern pass as its
# pseudo-mask stage, no CRF refinement stage (the pass applies the paper's
# CRF itself) and a retraining round appended (stages run after the stages
# they read, so test / test_tta move behind segmentation_1).
# A pipeline that inherits this graph names its stage configs:
#   configs = dict(classifier=..., pseudo_masks=..., segmentation=...,
#                  relabel=...)
_base_ = ['./cam-deeplabv2.py']
stages = dict(
    pseudo_masks=dict(
        _delete_=True,
        kind='test',
        config='pseudo_masks',
        out=True,
        inputs=dict(checkpoint='classifier.checkpoint'),
        report=dict(
            class_pattern_explained_pct=dict(
                metric='class_pattern/mean_explained_variance',
                label='class patterns: 1st PC variance %'),
            pseudo_mask_mIoU=dict(
                metric='mIoU',
                label='Algorithm 1 pseudo-mask mIoU (train, configured)'),
            pseudo_mask_oracle_mIoU=dict(
                metric='oracle_mIoU',
                label='pseudo-mask mIoU (train, oracle boundary)'),
            uncertain_pct=dict(
                metric='output_ignored_pct',
                label='uncertain pixels of the masks %'))),
    refinement=None,
    segmentation=dict(
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'pseudo_masks.masks'
        },
        report=dict(round0_val_mIoU=dict(
            metric='mIoU', label='round 0: last val mIoU'))),
    relabel_1=dict(
        kind='test',
        config='relabel',
        out=True,
        inputs={
            'checkpoint': 'segmentation.checkpoint',
            'test_dataloader.dataset.data_prefix.prev_mask_path':
            'pseudo_masks.masks'
        },
        report=dict(
            relabelled_pseudo_mask_mIoU=dict(
                metric='mIoU',
                label='round 1: relabelled pseudo-mask mIoU (train)'),
            relabel_filled_pct=dict(
                metric='filled_pct',
                label='round 1: pixels filled by relabelling %'))),
    segmentation_1=dict(
        kind='train',
        config='segmentation',
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'relabel_1.masks'
        },
        report=dict(round1_val_mIoU=dict(
            metric='mIoU', label='round 1: last val mIoU'))),
    # the final tests are of the last model
    test=dict(inputs=dict(checkpoint='segmentation_1.checkpoint')),
    test_tta=dict(inputs=dict(checkpoint='segmentation_1.checkpoint')),
)
