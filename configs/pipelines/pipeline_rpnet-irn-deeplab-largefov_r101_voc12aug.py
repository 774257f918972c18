# RPNet -> IRN -> DeepLab-LargeFOV on VOC 2012 aug (GPUs), the paper's
# chain: RPNet with the paper's settings (ResNeXt-50), IRN with its
# reference settings (frozen ImageNet ResNet-50), DeepLab-LargeFOV + dense
# CRF at test time. The paper's segmentation network is LargeFOV on
# ResNet-50; mmwsss ships it on ResNet-101 (configs/deeplab-largefov):
#   python tools/run_pipeline.py configs/pipelines/pipeline_rpnet-irn-deeplab-largefov_r101_voc12aug.py
# The pseudo masks that train the segmentation network cover train_aug.
_base_ = ['./_base_/irn-deeplabv2.py']
configs = dict(
    classifier='../rpnet/rpnet_x50-32x4d-s16_1xb16-3.3k_voc12aug-512x512.py',
    refiner='../irn/irn_r50-s16_1xb32-990_voc12aug-512x512.py',
    segmentation=('../deeplab-largefov/deeplab-largefov_r101-d8-in1k-pre_'
                  '1xb16-13.2k_voc12aug-328x328.py'))
_train_aug = {
    'test_dataloader.dataset.ann_file': 'ImageSets/Segmentation/train_aug.txt',
    'test_dataloader.dataset.data_prefix.seg_map_path': 'SegmentationClassAug',
}
stages = dict(
    pseudo_masks=dict(cfg_options=_train_aug),
    refinement_train=dict(
        cfg_options={
            'train_dataloader.dataset.ann_file':
            'ImageSets/Segmentation/train_aug.txt'
        }),
    refinement=dict(cfg_options=_train_aug),
    test_tta=dict(
        cfg_options={'tta_model.crf': 'deeplab-v2'},
        report=dict(
            val_mIoU_tta=dict(label='val mIoU, MS+flip + CRF (deeplab-v2)'))))
