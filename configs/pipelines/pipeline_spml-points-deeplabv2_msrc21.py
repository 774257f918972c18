# SPML from points on the MSRC-21 photographs (CPU; no pretrained weights):
#   python tools/run_pipeline.py configs/pipelines/pipeline_spml-points-deeplabv2_msrc21.py \
#       --data-root ../shared/data/msrc21
# weak_labels (point clicks derived from the train masks by a seeded rule,
# written into the stage folder, not the dataset) -> regions (felzenszwalb,
# min_size 20) -> embedding (SPML, 2,200 iterations, the CAM baseline's
# budget) -> pseudo_masks (softmax walked on the embedding, train split) ->
# segmentation (DeepLab-v2, 1,000 iterations) -> test / test_tta (val).
# The graph: ./_base_/spml-deeplabv2.py.
_base_ = ['./_base_/spml-deeplabv2.py']
configs = dict(
    embedding='../spml/spml-points_r18w32-d16_1xb16-2.2k_msrc21-96x96.py',
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-1k_msrc21-128x128.py')
stages = dict(
    weak_labels=dict(
        kind='points_boxes',
        config='embedding',  # the masks and ids of its train split
        split='train',
        classes='voc',
        label_seed=0),  # one fixed annotation for every seed
    embedding=dict(
        inputs={
            'train_dataloader.dataset.data_prefix.point_path':
            'weak_labels.points'
        }))
