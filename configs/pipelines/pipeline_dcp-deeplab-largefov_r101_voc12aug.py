# Luo & Yang (AAAI 2020) on PASCAL VOC 2012 + SBD with the paper's settings
# (GPUs; ImageNet ResNet-101 weights at the paths the stage configs name):
#   python tools/run_pipeline.py configs/pipelines/pipeline_dcp-deeplab-largefov_r101_voc12aug.py --nproc 4
# classifier: ResNet-101 (stride 8) on train_aug image labels; pseudo_masks:
# class patterns of C4_1 (layer4.0) from at most 800 images per class, then
# Algorithm 1 on train_aug (scored against SegmentationClassAug), CRF on
# single-class images; segmentation: DeepLab-LargeFOV ResNet-101, Adam 5e-6 /
# 1e-4, batch 16, 20 epochs at 328 x 328 (paper: 60.3 val mIoU with C4_1);
# one retraining round on the masks with the uncertain pixels filled by the
# model (paper: 64.5); test: val single scale; test_tta: 241/328/401 + CRF.
# The layer ablation (Table 1) swaps _dcp for ../dcp/dcp-c42_... or -c43_....
_cls = '../dcp/dcp-c41_r101-d8_1xb16-3.3k_voc12aug-328x328.py'
_dcp = '../dcp/dcp-c41_r101-d8_1xb16-3.3k_voc12aug-328x328.py'
_seg = '../deeplabv2/deeplab-largefov_r101-d8-in1k-pre_1xb16-13.2k_voc12aug-328x328.py'
_relabel = '../dcp/relabel-deeplab-largefov_r101-d8-in1k-pre_1xb16-13.2k_voc12aug-328x328.py'
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
        cfg_options={
            'test_dataloader.dataset.ann_file':
            'ImageSets/Segmentation/train_aug.txt',
            'test_dataloader.dataset.data_prefix.seg_map_path':
            'SegmentationClassAug',
        },
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
        cfg_options={'tta_model.crf': 'deeplab-v2'},
        report=dict(
            val_mIoU_tta=dict(metric='mIoU', label='val mIoU, 241/328/401 + CRF (deeplab-v2)'))),
]
seed = 0
repeat = 1
nproc = 1
data_root = None
