# SPML from points on the embedded synthetic dataset (CPU):
#   python tools/run_pipeline.py configs/pipelines/pipeline_spml-points-deeplabv2_synthetic.py
# regions (felzenszwalb, min_size 20, of the train images) -> embedding
# (SPML, 600 iterations) -> pseudo_masks (softmax walked on the embedding)
# -> segmentation (DeepLab-v2 on the pseudo masks) -> test / test_tta.
# The graph: ./_base_/spml-deeplabv2.py.
_base_ = ['./_base_/spml-deeplabv2.py']
configs = dict(
    embedding='../spml/spml-points_r18w32-d8_1xb16-600_synthetic-96x96.py',
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')
