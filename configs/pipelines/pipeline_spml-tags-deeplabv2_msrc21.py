# SPML from image tags on the MSRC-21 photographs (CPU; no pretrained
# weights):
#   python tools/run_pipeline.py configs/pipelines/pipeline_spml-tags-deeplabv2_msrc21.py \
#       --data-root ../shared/data/msrc21
# classifier (the MSRC-21 CAM baseline, 2,200 iterations) -> cams (its CAMs
# of the train split) -> regions (felzenszwalb, min_size 20) -> embedding
# (SPML on the tag labels made from the CAMs, 2,200 iterations) ->
# pseudo_masks (the same CAMs walked on the embedding) -> nn_masks
# (nearest prototypes of the train set, labelled by those masks) -> round
# 2 (classifier_round, 1,100 iterations on the frozen embedding ->
# round2_masks -> round2_nn_masks) -> segmentation (DeepLab-v2, 1,000
# iterations) -> test / test_tta (val).
# The graph: ./_base_/spml-tags-deeplabv2.py.
_base_ = ['./_base_/spml-tags-deeplabv2.py']
configs = dict(
    classifier='../cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py',
    embedding='../spml/spml-tags_r18w32-d16_1xb16-2.2k_msrc21-96x96.py',
    classifier_round='../spml/spml-tags-round2_r18w32-d16_1xb16-1.1k_msrc21-96x96.py',
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-1k_msrc21-128x128.py')
