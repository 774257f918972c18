# Luo & Yang (AAAI 2020) on the MSRC-21 photographs (CPU; no pretrained
# weights here):
#   python tools/run_pipeline.py configs/pipelines/pipeline_dcp-deeplabv2_msrc21.py \
#       --data-root ../shared/data/msrc21
# classifier (the CAM baseline's) -> class patterns -> Algorithm 1 masks
# (CRF on single-class images) -> DeepLab-v2 -> relabel the uncertain
# pixels -> DeepLab-v2 again -> val mIoU.
# the classifier is the CAM baseline's (same config, same checkpoint)
classifier = dict(config='../cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py')
# the pattern pass and the masks use the DCP config (same network)
class_patterns = dict(
    config='../dcp/dcp-c41_r18w32-d16_1xb16-2.2k_msrc21-96x96.py')
pseudo_masks = dict(crf='irn')
refinement = None
segmentation = dict(
    config='../deeplabv2/deeplabv2_r18w32-d8_1xb16-1k_msrc21-128x128.py',
    tta=True,
    crf=None)
retrain = dict(rounds=1, fill='uncertain')
seed = 0
repeat = 1
nproc = 1
data_root = None
