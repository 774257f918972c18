# Class patterns (Luo & Yang, AAAI 2020) on the embedded synthetic dataset
# (CPU, about 25 minutes on 2 cores):
#   python tools/run_pipeline.py configs/pipelines/pipeline_classpattern-deeplabv2_synthetic.py
# classifier (the CAM baseline's config and checkpoint) -> pseudo_masks (class
# patterns of layer3.1, c32; then Algorithm 1 on the train split, uncertain
# pixels ignored, dense CRF with IRN's label unary on single-class images)
# -> segmentation (DeepLab-v2) -> relabel_1 (the model's labels fill the
# uncertain pixels) -> segmentation_1 (DeepLab-v2 again from scratch) ->
# test / test_tta of the last model.
# The graph: ./_base_/classpattern-deeplabv2.py.
_base_ = ['./_base_/classpattern-deeplabv2.py']
configs = dict(
    classifier='../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py',
    pseudo_masks=('../classpattern/'
                  'classpattern-c32_r18w32-d8_1xb16-600_synthetic-96x96.py'),
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py',
    relabel=('../classpattern/'
             'relabel-deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py'))
