# Luo & Yang (AAAI 2020) on MS COCO 2014 (GPUs): ResNet-101 classifier,
# class patterns of C4_1 from at most 2000 images per class, Algorithm 1
# masks of train2014, DeepLab-LargeFOV ResNet-101 (Adam 5e-6 / 1e-4, 20
# epochs, 328 x 328), one retraining round, val2014 with 241/328/401 + CRF.
#   python tools/run_pipeline.py configs/pipelines/pipeline_dcp-deeplab-largefov_r101_coco14.py --nproc 8
classifier = dict(
    config='../dcp/dcp-c41_r101-d8_1xb16-20k_coco14-328x328.py')
class_patterns = dict()
pseudo_masks = dict(crf='irn')
refinement = None
segmentation = dict(
    config='../deeplabv2/'
    'deeplab-largefov_r101-d8-in1k-pre_1xb16-102.6k_coco14-328x328.py',
    tta=True,
    crf='deeplab-v2')
retrain = dict(rounds=1, fill='uncertain')
seed = 0
repeat = 1
nproc = 1
data_root = None
