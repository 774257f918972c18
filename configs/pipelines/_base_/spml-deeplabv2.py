# The chain of SPML (Ke et al., ICLR 2021) from a dense-free weak label
# (points, scribbles): regions (an over-segmentation of the train images,
# the `oversegment` stage kind of mmwsss/engine/stage_kinds/) -> embedding
# (SPML's pixel embedding and auxiliary classifier, trained on the partial
# labels and the regions) -> pseudo_masks (the classifier's softmax walked
# on the embedding's affinity, train split, scored like AffinityNet's:
# configured, oracle and GT-free background) -> segmentation (DeepLab-v2
# on the pseudo masks) -> test / test_tta (val).
#
# Stage 3 (segmentation, test, test_tta) is ./cam-deeplabv2.py's; its
# classifier and CRF refinement stages are removed and its pseudo-mask
# stage is SPML's test pass. The tag route's rounds (nearest prototypes,
# the classifier retrained on the frozen embedding) are in
# ./spml-tags-deeplabv2.py.
#
# A pipeline that inherits this graph names its stage configs:
#   configs = dict(embedding=..., segmentation=...)
# Tags and boxes need CAMs: ./spml-cams-deeplabv2.py adds them.
_base_ = ['./cam-deeplabv2.py']
stages = dict(
    classifier=None,
    refinement=None,
    regions=dict(
        kind='oversegment',
        config='embedding',  # the images of its train split
        split='train',
        algorithm='felzenszwalb',
        params=dict(min_size=20)),
    embedding=dict(
        kind='train',
        config='embedding',
        inputs={
            'train_dataloader.dataset.data_prefix.region_path':
            'regions.regions'
        }),
    pseudo_masks=dict(
        _delete_=True,
        kind='test',
        config='embedding',
        out=True,  # the masks and the walked maps
        inputs=dict(checkpoint='embedding.checkpoint'),
        report=dict(
            pseudo_mask_mIoU=dict(
                metric='mIoU',
                label='SPML pseudo-mask mIoU (train, propagated bg)'),
            pseudo_mask_oracle_mIoU=dict(
                metric='oracle_mIoU',
                label='SPML pseudo-mask mIoU (train, oracle bg)'),
            pseudo_mask_gt_free_mIoU=dict(
                metric='gt_free_mIoU',
                label='SPML pseudo-mask mIoU (train, GT-free bg)'))),
    segmentation=dict(
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'pseudo_masks.masks'
        }),
)
