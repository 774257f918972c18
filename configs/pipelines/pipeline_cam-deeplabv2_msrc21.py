# The whole chain on the MSRC-21 photographs (no pretrained weights here):
#   python tools/run_pipeline.py configs/pipelines/pipeline_cam-deeplabv2_msrc21.py \
#       --data-root ../shared/data/msrc21
# 1. classifier: half-width ResNet-18 CAM classifier from scratch (train)
# 2. pseudo_masks: CAMs (scales 0.5/1/1.5 + flip) on the train split, scored
#    against its masks
# 3. no refinement: the dense CRF lowered the pseudo-mask mIoU on these
#    photographs at every threshold (see the README)
# 4. segmentation: DeepLab-v2 half-width ResNet-18 from scratch on the
#    pseudo masks; 5. val mIoU, single scale and multi-scale + flip.
classifier = dict(
    config='../cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py')
# only the sweep without CRF: the CRF column costs minutes here
pseudo_masks = dict(crf='none')
refinement = None
segmentation = dict(
    config='../deeplabv2/deeplabv2_r18w32-d8_1xb16-1k_msrc21-128x128.py',
    tta=True,
    crf=None)
seed = 0
repeat = 1
nproc = 1
data_root = None
