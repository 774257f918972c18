# Class patterns (Luo & Yang, AAAI 2020) on the MSRC-21 photographs (CPU;
# no pretrained weights here):
#   python tools/run_pipeline.py configs/pipelines/pipeline_classpattern-deeplabv2_msrc21.py \
#       --data-root ../shared/data/msrc21
# classifier (the CAM baseline's) -> class patterns (c41) + Algorithm 1 masks
# (CRF on single-class images) -> DeepLab-v2 -> relabel the uncertain
# pixels -> DeepLab-v2 again -> val mIoU.
# The graph: ./_base_/classpattern-deeplabv2.py.
_base_ = ['./_base_/classpattern-deeplabv2.py']
configs = dict(
    classifier='../cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py',
    pseudo_masks=('../classpattern/'
                  'classpattern-c41_r18w32-d16_1xb16-2.2k_msrc21-96x96.py'),
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-1k_msrc21-128x128.py',
    relabel=('../classpattern/'
             'relabel-deeplabv2_r18w32-d8_1xb16-1k_msrc21-128x128.py'))
