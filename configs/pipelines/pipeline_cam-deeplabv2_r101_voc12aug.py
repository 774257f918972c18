# The CAM baseline chain on PASCAL VOC 2012 (GPU cluster):
#   python tools/run_pipeline.py configs/pipelines/pipeline_cam-deeplabv2_r101_voc12aug.py \
#       --nproc 4 --data-root data/VOCdevkit/VOC2012
# classifier (ResNet-50 CAM, IRN's train_cam recipe, on train_aug) ->
# pseudo_masks (CAMs of the 10,582 train_aug images, which stage 3 trains
# on, scored against SegmentationClassAug) -> segmentation (DeepLab-v2
# ResNet-101, COCO-initialised: see that config for the checkpoint to
# supply) -> val single scale, and multi-scale + flip + dense CRF
# (DeepLab-v2 parameters).
_cam = '../cam/cam_r50-d16_1xb16-3.3k_voc12aug-512x512.py'
_seg = ('../deeplabv2/'
        'deeplabv2_r101-d8-coco-pre_1xb10-20k_voc12aug-321x321.py')
stages = [
    dict(name='classifier', kind='train', config=_cam),
    dict(
        name='pseudo_masks',
        kind='test',
        config=_cam,
        out=True,
        inputs=dict(checkpoint='classifier.checkpoint'),
        cfg_options={
            'model.test_cfg.crf': None,
            'test_dataloader.dataset.ann_file':
            'ImageSets/Segmentation/train_aug.txt',
            'test_dataloader.dataset.data_prefix.seg_map_path':
            'SegmentationClassAug',
        },
        report=dict(
            cam_pseudo_mask_mIoU=dict(
                metric='mIoU',
                label='CAM pseudo-mask mIoU (train_aug, configured bg)'),
            cam_pseudo_mask_oracle_mIoU=dict(
                metric='oracle_mIoU',
                label='CAM pseudo-mask mIoU (train_aug, oracle bg)'),
            cam_pseudo_mask_gt_free_mIoU=dict(
                metric='gt_free_mIoU',
                label='CAM pseudo-mask mIoU (train_aug, GT-free bg)'))),
    dict(
        name='segmentation',
        kind='train',
        config=_seg,
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'pseudo_masks.masks'
        }),
    dict(
        name='test',
        kind='test',
        config=_seg,
        inputs=dict(checkpoint='segmentation.checkpoint'),
        report=dict(
            val_mIoU=dict(metric='mIoU', label='val mIoU, single scale'))),
    dict(
        name='test_tta',
        kind='test',
        config=_seg,
        tta=True,
        inputs=dict(checkpoint='segmentation.checkpoint'),
        cfg_options={'tta_model.crf': 'deeplab-v2'},
        report=dict(
            val_mIoU_tta=dict(
                metric='mIoU', label='val mIoU, MS+flip + CRF (deeplab-v2)'))),
]
seed = 0
repeat = 1
nproc = 4
data_root = None
