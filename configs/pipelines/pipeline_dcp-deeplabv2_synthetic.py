# Luo & Yang (AAAI 2020), class patterns, on the embedded synthetic dataset
# (CPU, about 25 minutes on 2 cores):
#   python tools/run_pipeline.py configs/pipelines/pipeline_dcp-deeplabv2_synthetic.py
# classifier (the CAM baseline's config and checkpoint) -> pseudo_masks (class
# patterns of layer3.1, c32: the best of the three layers on this set; then
# Algorithm 1 on the train split, uncertain pixels ignored, dense CRF with
# IRN's label unary on single-class images) -> segmentation (DeepLab-v2) ->
# relabel_1 (the model's labels fill the uncertain pixels) -> segmentation_1
# (DeepLab-v2 again from scratch) -> test / test_tta of the last model.
_cls = '../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py'
_dcp = '../dcp/dcp-c32_r18w32-d8_1xb16-600_synthetic-96x96.py'
_seg = '../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py'
_relabel = '../dcp/relabel-deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py'
_seg_report = dict(metric='mIoU', label='round 0: last val mIoU')
stages = [
    dict(name='classifier', kind='train', config=_cls),
    # one pass fits the class patterns (model state, saved as
    # class_patterns.pth), then Algorithm 1 writes the masks of the train split
    dict(
        name='pseudo_masks',
        kind='test',
        config=_dcp,
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
    dict(
        name='segmentation',
        kind='train',
        config=_seg,
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'pseudo_masks.masks'
        },
        report=dict(round0_val_mIoU=_seg_report)),
    # retraining round 1: the model fills the uncertain pixels of its masks
    dict(
        name='relabel_1',
        kind='test',
        config=_relabel,
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
    dict(
        name='segmentation_1',
        kind='train',
        config=_seg,
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'relabel_1.masks'
        },
        report=dict(round1_val_mIoU=dict(
            metric='mIoU', label='round 1: last val mIoU'))),
    dict(
        name='test',
        kind='test',
        config=_seg,
        inputs=dict(checkpoint='segmentation_1.checkpoint'),
        report=dict(
            val_mIoU=dict(metric='mIoU', label='val mIoU, single scale'))),
    dict(
        name='test_tta',
        kind='test',
        config=_seg,
        tta=True,
        inputs=dict(checkpoint='segmentation_1.checkpoint'),
        report=dict(
            val_mIoU_tta=dict(metric='mIoU', label='val mIoU, MS+flip'))),
]
seed = 0
repeat = 1
nproc = 1
data_root = None
