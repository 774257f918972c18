# SPML from scribbles on PASCAL VOC 2012 + aug (GPU cluster):
#   python tools/run_pipeline.py configs/pipelines/pipeline_spml-scribbles-deeplabv2_r101_voc12aug.py \
#       --nproc 4 --data-root data/VOCdevkit/VOC2012
# Weak label: ScribbleSup strokes in data_root/Scribbles (the code's scribble/dilate_3 PNGs).
# The graph is ./_base_/spml-deeplabv2.py (see its header); here every
# test pass whose masks a later stage reads runs on the 10,582 train_aug
# images (scored against SegmentationClassAug; the reported labels still
# say "train"), the region maps cover train_aug (the embedding's train
# split), and stage 3 is COCO-initialised DeepLab-v2 ResNet-101 with
# multi-scale + flip + CRF at test time. Not run here (no GPU).
_base_ = ['./_base_/spml-deeplabv2.py']
configs = dict(
    embedding='../spml/spml-scribbles_r101-d8_4xb3-30k_voc12aug-512x512.py',
    segmentation=('../deeplabv2/'
                  'deeplabv2_r101-d8-coco-pre_1xb10-20k_voc12aug-321x321.py'))
_TRAIN_AUG = {
    'test_dataloader.dataset.ann_file':
    'ImageSets/Segmentation/train_aug.txt',
    'test_dataloader.dataset.data_prefix.seg_map_path':
    'SegmentationClassAug',
}
stages = dict(
    pseudo_masks=dict(cfg_options=_TRAIN_AUG),
)
nproc = 4
