# Luo & Yang (AAAI 2020) on PASCAL VOC 2012 + SBD with the paper's settings
# (GPUs; ImageNet ResNet-101 weights at the paths the stage configs name):
#   python tools/run_pipeline.py configs/pipelines/pipeline_dcp-deeplab-largefov_r101_voc12aug.py --nproc 4
# 1. classifier: ResNet-101 (stride 8) on train_aug image labels
# 2. class_patterns: C4_1 (layer4.0), at most 800 images per class
# 3. pseudo_masks: Algorithm 1 on train_aug (10,582; scored against
#    SegmentationClassAug), CRF on single-class images
# 4. segmentation: DeepLab-LargeFOV ResNet-101, Adam 5e-6 / 1e-4, batch 16,
#    20 epochs at 328 x 328 (paper: 60.3 val mIoU with C4_1)
# 5. retrain once on the masks with the uncertain pixels filled by the
#    model's prediction (paper: 64.5)
# 6. test: val, single scale; test_tta: 241/328/401 + dense CRF.
# The layer ablation (Table 1) swaps the classifier config for
# ../dcp/dcp-c42_... or ../dcp/dcp-c43_....
classifier = dict(
    config='../dcp/dcp-c41_r101-d8_1xb16-3.3k_voc12aug-328x328.py')
class_patterns = dict()
pseudo_masks = dict(
    crf='irn',
    cfg_options={
        'test_dataloader.dataset.ann_file':
        'ImageSets/Segmentation/train_aug.txt',
        'test_dataloader.dataset.data_prefix.seg_map_path':
        'SegmentationClassAug',
    })
refinement = None
segmentation = dict(
    config='../deeplabv2/'
    'deeplab-largefov_r101-d8-in1k-pre_1xb16-13.2k_voc12aug-328x328.py',
    tta=True,
    crf='deeplab-v2')
retrain = dict(
    rounds=1,
    fill='uncertain',
    # score the relabelled train_aug masks against SBD's masks
    test_cfg_options={
        'train_dataloader.dataset.data_prefix.seg_map_path':
        'SegmentationClassAug'
    })
seed = 0
repeat = 1
nproc = 1
data_root = None
