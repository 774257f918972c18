# SPML from image tags on the embedded synthetic dataset (CPU):
#   python tools/run_pipeline.py configs/pipelines/pipeline_spml-tags-deeplabv2_synthetic.py
# classifier (the CAM baseline) -> cams (its CAMs of the train split) ->
# regions (felzenszwalb, min_size 20) -> embedding (SPML on the tag labels
# made from the CAMs) -> pseudo_masks (the same CAMs walked on the
# embedding: round 1 of the code's tag route) -> nn_masks (nearest
# prototypes of the train set, labelled by those masks) -> round 2
# (classifier_round on the frozen embedding -> round2_masks ->
# round2_nn_masks) -> segmentation (DeepLab-v2) -> test / test_tta.
# The graph: ./_base_/spml-tags-deeplabv2.py.
_base_ = ['./_base_/spml-tags-deeplabv2.py']
configs = dict(
    classifier='../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py',
    embedding='../spml/spml-tags_r18w32-d8_1xb16-600_synthetic-96x96.py',
    classifier_round='../spml/spml-tags-round2_r18w32-d8_1xb16-300_synthetic-96x96.py',
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')
