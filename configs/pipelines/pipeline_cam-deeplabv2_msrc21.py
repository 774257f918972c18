# The CAM baseline on the MSRC-21 photographs (CPU; no pretrained weights):
#   python tools/run_pipeline.py configs/pipelines/pipeline_cam-deeplabv2_msrc21.py \
#       --data-root ../shared/data/msrc21
# classifier (half-width ResNet-18 from scratch) -> pseudo_masks (CAMs,
# scales 0.5/1/1.5 + flip, on the train split, scored against its masks) ->
# segmentation (DeepLab-v2 from scratch on the pseudo masks; no refinement:
# the dense CRF lowered the pseudo-mask mIoU on these photographs at every
# threshold, see configs/cam/README.md) -> val mIoU, single scale and
# multi-scale + flip.
_base_ = ['./_base_/cam-deeplabv2.py']
configs = dict(
    classifier='../cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py',
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-1k_msrc21-128x128.py')
stages = dict(
    refinement=None,
    segmentation=dict(
        inputs={
            'train_dataloader.dataset.data_prefix.seg_map_path':
            'pseudo_masks.masks'
        }))
