# Class patterns (Luo & Yang, AAAI 2020) on MS COCO 2014 (GPUs): ResNet-101
# classifier, class patterns of C4_1 from at most 2000 images per class,
# Algorithm 1 masks of train2014, DeepLab-LargeFOV ResNet-101 (Adam 5e-6 /
# 1e-4, 20 epochs, 328 x 328), one retraining round, val2014 with
# 241/328/401 + CRF.
#   python tools/run_pipeline.py configs/pipelines/pipeline_classpattern-deeplab-largefov_r101_coco14.py --nproc 8
# The graph: ./_base_/classpattern-deeplabv2.py.
_base_ = ['./_base_/classpattern-deeplabv2.py']
_classpattern = ('../classpattern/'
                 'classpattern-c41_r101-d8_1xb16-20k_coco14-328x328.py')
configs = dict(
    classifier=_classpattern,
    pseudo_masks=_classpattern,
    segmentation=('../deeplab-largefov/deeplab-largefov_r101-d8-in1k-pre_'
                  '1xb16-102.6k_coco14-328x328.py'),
    relabel=('../classpattern/relabel-deeplab-largefov_r101-d8-in1k-pre_'
             '1xb16-102.6k_coco14-328x328.py'))
stages = dict(
    test_tta=dict(
        cfg_options={'tta_model.crf': 'deeplab-v2'},
        report=dict(
            val_mIoU_tta=dict(
                label='val mIoU, 241/328/401 + CRF (deeplab-v2)'))))
