# The CAM baseline chain on PASCAL VOC 2012 (GPU cluster):
#   python tools/run_pipeline.py configs/pipelines/pipeline_cam-deeplabv2_r101_voc12aug.py \
#       --nproc 4 --data-root data/VOCdevkit/VOC2012
# 1. classifier: ResNet-50 CAM (IRN's train_cam recipe) on train_aug
# 2. pseudo_masks: CAMs of the 10,582 train_aug images (stage 3 trains on
#    all of them), scored against SegmentationClassAug
# 3. segmentation: DeepLab-v2 ResNet-101, COCO-initialised (see that
#    config for the checkpoint to supply), then val single scale and
#    multi-scale + flip + dense CRF (DeepLab-v2 parameters).
classifier = dict(config='../cam/cam_r50-d16_1xb16-3.3k_voc12aug-512x512.py')
pseudo_masks = dict(
    crf='none',
    cfg_options={
        'test_dataloader.dataset.ann_file':
        'ImageSets/Segmentation/train_aug.txt',
        'test_dataloader.dataset.data_prefix.seg_map_path':
        'SegmentationClassAug',
        'test_evaluator.save_cams': False,
    })
refinement = None
segmentation = dict(
    config='../deeplabv2/'
    'deeplabv2_r101-d8-coco-pre_1xb10-20k_voc12aug-321x321.py',
    tta=True,
    crf='deeplab-v2')
seed = 0
repeat = 1
nproc = 4
data_root = None
