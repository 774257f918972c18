# SPML from bounding boxes on the embedded synthetic dataset (CPU):
#   python tools/run_pipeline.py configs/pipelines/pipeline_spml-boxes-deeplabv2_synthetic.py
# classifier (the CAM baseline) -> cams (its CAMs of the train split) ->
# regions (felzenszwalb, min_size 20) -> embedding (SPML on the box labels
# made from the CAMs) -> pseudo_masks (softmax walked on the embedding) ->
# segmentation (DeepLab-v2) -> test / test_tta.
# The graph: ./_base_/spml-cams-deeplabv2.py.
_base_ = ['./_base_/spml-cams-deeplabv2.py']
configs = dict(
    classifier='../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py',
    embedding='../spml/spml-boxes_r18w32-d8_1xb16-600_synthetic-96x96.py',
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')
