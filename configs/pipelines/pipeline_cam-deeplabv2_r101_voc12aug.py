# The CAM baseline chain on PASCAL VOC 2012 (GPU cluster):
#   python tools/run_pipeline.py configs/pipelines/pipeline_cam-deeplabv2_r101_voc12aug.py \
#       --nproc 4 --data-root data/VOCdevkit/VOC2012
# classifier (ResNet-50 CAM, IRN's train_cam recipe, on train_aug) ->
# pseudo_masks (CAMs of the 10,582 train_aug images, which stage 3 trains
# on, scored against SegmentationClassAug) -> segmentation (DeepLab-v2
# ResNet-101, COCO-initialised: see that config for the checkpoint to
# supply) -> val single scale, and multi-scale + flip + dense CRF
# (DeepLab-v2 parameters).
_base_ = ['./_base_/cam-deeplabv2.py']
configs = dict(
    classifier='../cam/cam_r50-d16_1xb16-3.3k_voc12aug-512x512.py',
    segmentation=('../deeplabv2/'
                  'deeplabv2_r101-d8-coco-pre_1xb10-20k_voc12aug-321x321.py'))
stages = dict(
    pseudo_masks=dict(
        cfg_options={
            'test_dataloader.dataset.ann_file':
            'ImageSets/Segmentation/train_aug.txt',
            'test_dataloader.dataset.data_prefix.seg_map_path':
            'SegmentationClassAug',
        },
        report=dict(
            pseudo_mask_mIoU=dict(
                label='pseudo-mask mIoU (train_aug, configured bg)'),
            pseudo_mask_oracle_mIoU=dict(
                label='pseudo-mask mIoU (train_aug, oracle bg)'),
            pseudo_mask_gt_free_mIoU=dict(
                label='pseudo-mask mIoU (train_aug, GT-free bg)'))),
    refinement=None,
    segmentation=dict(
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'pseudo_masks.masks'
        }),
    test_tta=dict(
        cfg_options={'tta_model.crf': 'deeplab-v2'},
        report=dict(
            val_mIoU_tta=dict(label='val mIoU, MS+flip + CRF (deeplab-v2)'))))
nproc = 4
