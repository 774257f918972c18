# The CAM baseline, the whole chain on the embedded synthetic dataset, on CPU
# in about 12 minutes (2 cores):
#   python tools/run_pipeline.py configs/pipelines/pipeline_cam-deeplabv2_synthetic.py
# classifier (half-width ResNet-18, 600 iterations) -> pseudo_masks
# (multi-scale + flip CAMs of the train split, background threshold 0.3,
# scored with the sweep table) -> refinement (the same CAMs with the dense
# CRF, PSA parameters) -> segmentation (DeepLab-v2 on the refined masks) ->
# test / test_tta (val, single scale and multi-scale + flip).
# The graph: ./_base_/cam-deeplabv2.py; stage keys: mmwsss/apis/pipeline/graph.py.
_base_ = ['./_base_/cam-deeplabv2.py']
configs = dict(
    classifier='../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py',
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')
