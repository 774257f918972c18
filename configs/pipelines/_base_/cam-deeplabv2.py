# The chain of a CAM-style method (CAM, EPS, or any classifier whose test
# pass writes pseudo masks): classifier -> pseudo_masks -> refinement (the
# same maps with the dense CRF) -> segmentation (trained on the refined
# masks) -> test / test_tta (val, single scale and multi-scale + flip).
#
# A pipeline that inherits this graph names its stage configs (paths
# relative to that pipeline config):
#   configs = dict(classifier=..., segmentation=...)
# and may update any stage key by key (`stages = dict(refinement=None)`
# drops the CRF stage; see mmwsss/apis/pipeline/graph.py).
stages = dict(
    classifier=dict(kind='train', config='classifier'),
    pseudo_masks=dict(
        kind='test',
        config='classifier',
        out=True,  # the masks and, if the config's writer saves them, maps
        inputs=dict(checkpoint='classifier.checkpoint'),
        # the sweep without CRF only: the CRF column costs far more
        cfg_options={'model.test_cfg.crf': None},
        report=dict(
            pseudo_mask_mIoU=dict(
                metric='mIoU',
                label='pseudo-mask mIoU (train, configured bg)'),
            pseudo_mask_oracle_mIoU=dict(
                metric='oracle_mIoU',
                label='pseudo-mask mIoU (train, oracle bg)'),
            pseudo_mask_gt_free_mIoU=dict(
                metric='gt_free_mIoU',
                label='pseudo-mask mIoU (train, GT-free bg)'))),
    refinement=dict(
        kind='test',
        config='classifier',
        out=True,
        inputs=dict(checkpoint='classifier.checkpoint'),
        # the configured threshold only, refined by the dense CRF
        cfg_options={
            'model.test_cfg.crf': 'psa',
            'model.test_cfg.crf_sweep': []
        },
        report=dict(
            refined_pseudo_mask_mIoU=dict(
                metric='mIoU',
                label='CRF-refined pseudo-mask mIoU (train, configured)'))),
    segmentation=dict(
        kind='train',
        config='segmentation',
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'refinement.masks'
        }),
    test=dict(
        kind='test',
        config='segmentation',
        inputs=dict(checkpoint='segmentation.checkpoint'),
        report=dict(
            val_mIoU=dict(metric='mIoU', label='val mIoU, single scale'))),
    test_tta=dict(
        kind='test',
        config='segmentation',
        tta=True,
        out=True,  # the val masks, for the summary picture of the chain
        inputs=dict(checkpoint='segmentation.checkpoint'),
        report=dict(
            val_mIoU_tta=dict(metric='mIoU', label='val mIoU, MS+flip'))),
)
seed = 0
repeat = 1
nproc = 1
data_root = None
