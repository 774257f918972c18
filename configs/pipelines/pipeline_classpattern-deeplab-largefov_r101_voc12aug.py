# Class patterns (Luo & Yang, AAAI 2020) on PASCAL VOC 2012 + SBD with the
# paper's settings (GPUs; ImageNet ResNet-101 weights at the paths the
# stage configs name):
#   python tools/run_pipeline.py configs/pipelines/pipeline_classpattern-deeplab-largefov_r101_voc12aug.py --nproc 4
# classifier: ResNet-101 (stride 8) on train_aug image labels; pseudo_masks:
# class patterns of C4_1 (layer4.0) from at most 800 images per class, then
# Algorithm 1 on train_aug (scored against SegmentationClassAug), CRF on
# single-class images; segmentation: DeepLab-LargeFOV ResNet-101, Adam 5e-6 /
# 1e-4, batch 16, 20 epochs at 328 x 328 (paper: 60.3 val mIoU with C4_1);
# one retraining round on the masks with the uncertain pixels filled by the
# model (paper: 64.5); test: val single scale; test_tta: 241/328/401 + CRF.
# The layer ablation (Table 1): pseudo_masks=classpattern-c42_... or -c43_....
_base_ = ['./_base_/classpattern-deeplabv2.py']
_classpattern = ('../classpattern/'
                 'classpattern-c41_r101-d8_1xb16-3.3k_voc12aug-328x328.py')
configs = dict(
    classifier=_classpattern,
    pseudo_masks=_classpattern,
    segmentation=('../deeplab-largefov/deeplab-largefov_r101-d8-in1k-pre_'
                  '1xb16-13.2k_voc12aug-328x328.py'),
    relabel=('../classpattern/relabel-deeplab-largefov_r101-d8-in1k-pre_'
             '1xb16-13.2k_voc12aug-328x328.py'))
stages = dict(
    pseudo_masks=dict(
        cfg_options={
            'test_dataloader.dataset.ann_file':
            'ImageSets/Segmentation/train_aug.txt',
            'test_dataloader.dataset.data_prefix.seg_map_path':
            'SegmentationClassAug',
        }),
    test_tta=dict(
        cfg_options={'tta_model.crf': 'deeplab-v2'},
        report=dict(
            val_mIoU_tta=dict(
                label='val mIoU, 241/328/401 + CRF (deeplab-v2)'))))
