# EPS -> AffinityNet -> DeepLab-v2 on PASCAL VOC 2012 aug with the papers'
# settings (needs GPUs, the converted ResNet-38d / ResNet-101 weights and
# PFAN saliency maps in <VOC2012>/SALImages; see each stage config):
#   python tools/run_pipeline.py \
#       configs/pipelines/pipeline_eps-affinitynet-deeplabv2_wr38d_voc12aug.py
# EPS used no CRF for its pseudo masks (README).
_base_ = ['./_base_/affinitynet-deeplabv2.py']
configs = dict(
    classifier='../eps/eps_wr38d-d8_1xb8-20k_voc12aug-448x448.py',
    refiner='../affinitynet/affinitynet_wr38d-d8_1xb8-10.6k_voc12aug-448x448.py',
    segmentation='../deeplabv2/deeplabv2_r101-d8-coco-pre_1xb10-20k_voc12aug-321x321.py')
stages = dict(
    test_tta=dict(
        cfg_options={'tta_model.crf': 'deeplab-v2'},
        report=dict(
            val_mIoU_tta=dict(label='val mIoU, MS+flip + CRF (deeplab-v2)'))))
