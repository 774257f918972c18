# Copyright (c) OpenMMLab. All rights reserved.
"""A minimal config of every module mmwsss registers.

``tests/test_registry.py`` finds every module that mmwsss registers (in
mmseg's registries and in its own, e.g. the pipeline stage kinds) and builds
each from its entry here; a registered module without an entry fails that
test, so nothing registered goes untested. Segmentors (mmseg
``BaseSegmentor`` and mmengine ``BaseTTAModel`` subclasses) also run
``loss`` and ``predict`` on two 32 x 32 images.

Strings may hold two placeholders, filled by
:func:`~mmwsss.testing.fill_placeholders`: ``{data_root}`` (a tiny
synthetic set, :data:`~mmwsss.testing.TINY_GENERATE`, generated there) and
``{work_dir}`` (an empty folder). Models have 6 segmentation classes (5
foreground), as :func:`~mmwsss.testing.demo_wsss_inputs`.
"""
import copy
from typing import Any, Dict

from ._utils import tiny_cam_model_cfg

__all__ = ['REGISTRY_CONFIGS', 'DATA_ROOT', 'WORK_DIR', 'fill_placeholders']

#: Placeholder of the synthetic data root.
DATA_ROOT = '{data_root}'
#: Placeholder of an empty work folder.
WORK_DIR = '{work_dir}'

_PREPROCESSOR = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=32)

# ResNet-18 at 1/8 width, output stride 8 (the tiny configs' backbone)
_TINY_R18 = dict(
    type='ResNet',
    depth=18,
    stem_channels=8,
    base_channels=8,
    strides=(1, 2, 1, 1),
    dilations=(1, 1, 2, 4),
    init_cfg=None)

# a tiny mmseg DeepLab-v2 (the stage-3 segmentor that the TTA and relabel
# wrappers wrap)
_TINY_DEEPLABV2 = dict(
    type='EncoderDecoder',
    data_preprocessor=_PREPROCESSOR,
    backbone=dict(_TINY_R18, out_indices=(3, )),
    decode_head=dict(
        type='DeepLabV2Head',
        in_channels=64,
        num_classes=6,
        dilations=(1, 2),
        in_index=0),
    test_cfg=dict(mode='whole'))

_SYNTHETIC_TRAIN = dict(
    type='SyntheticWSSSDataset',
    data_root=DATA_ROOT,
    ann_file='ImageSets/Segmentation/train.txt',
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    generate=None,
    pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadWSSSAnnotations'),
        dict(type='PackWSSSInputs')
    ])

_VOC_LAYOUT = dict(
    data_root=DATA_ROOT,
    ann_file='ImageSets/Segmentation/train.txt',
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    pipeline=[])

#: ``{registry name: {module name: minimal config}}``; a registry of another
#: scope than mmseg is named ``'<scope>:<name>'``.
REGISTRY_CONFIGS: Dict[str, Dict[str, Dict[str, Any]]] = {
    'model': {
        # WideResNet-38 backbone of PSA/EPS at its only size (~100 M
        # parameters, no forward here)
        'ResNet38d': dict(type='ResNet38d'),
        # the CAM classifier on the tiny ResNet-18; 2 test scales + flip
        'CAMSegmentor': tiny_cam_model_cfg(num_fg_classes=5),
        # Luo & Yang: fits its class patterns on the synthetic train split
        # at the first prediction (pattern_dataloader)
        'ClassPatternSegmentor': dict(
            tiny_cam_model_cfg(num_fg_classes=5),
            type='ClassPatternSegmentor',
            feature_layer='backbone.layer4.0',
            pattern_dataloader=dict(
                batch_size=2,
                num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=False),
                dataset=_SYNTHETIC_TRAIN),
            test_cfg=dict(scales=(1.0, ), flip=False)),
        # the affinity refiner on three levels of the tiny ResNet-18
        'AffinityNet': dict(
            type='AffinityNet',
            data_preprocessor=_PREPROCESSOR,
            backbone=dict(_TINY_R18, out_indices=(1, 2, 3)),
            aff_head=dict(
                type='AffinityHead',
                in_channels=(16, 32, 64),
                num_classes=6,
                channels=(8, 8, 16)),
            test_cfg=dict(num_iters=3)),
        # IRN's boundary branch on the five taps of the tiny ResNet-18
        # (stem, layer1 .. layer4), frozen; a short walk
        'IRNet': dict(
            type='IRNet',
            data_preprocessor=_PREPROCESSOR,
            backbone=_TINY_R18,
            boundary_head=dict(
                type='IRNBoundaryHead',
                in_channels=(8, 8, 16, 32, 64),
                num_classes=6,
                channels=8,
                radius=3),
            test_cfg=dict(num_iters=3)),
        # SPML on the tiny ResNet-18: 8-d embeddings from one 3x3 conv, the
        # loss on a 2 x 2 k-means grid, the softmax classifier, a short walk
        'SPMLSegmentor': dict(
            type='SPMLSegmentor',
            data_preprocessor=_PREPROCESSOR,
            backbone=dict(_TINY_R18, out_indices=(3, )),
            embedding_head=dict(
                type='SPMLEmbeddingHead',
                in_channels=64,
                embed_dims=8,
                dilations=(1, )),
            loss=dict(
                type='PixelToSegmentContrastiveLoss',
                num_classes=6,
                kmeans_grid=(2, 2),
                kmeans_iters=2),
            classifier=dict(
                type='SPMLSoftmaxHead', embed_dims=8, num_classes=6,
                channels=4),
            test_cfg=dict(num_iters=4, radius=2)),
        # mmseg's TTA average of the tiny DeepLab-v2, then PSA's dense CRF
        'CRFSegTTAModel': dict(
            type='CRFSegTTAModel', module=_TINY_DEEPLABV2, crf='psa'),
        # the tiny DeepLab-v2 filling the uncertain pixels of prev_mask
        'RelabelSegmentor': dict(
            type='RelabelSegmentor', module=_TINY_DEEPLABV2),
        # DeepLab-LargeFOV head with a 4-channel hidden layer
        'DeepLabLargeFOVHead': dict(
            type='DeepLabLargeFOVHead',
            in_channels=8,
            channels=4,
            num_classes=6),
        # DeepLab-v2 ASPP classifier with two rates
        'DeepLabV2Head': dict(
            type='DeepLabV2Head',
            in_channels=8,
            num_classes=6,
            dilations=(1, 2)),
        # CAM head: 1x1 classifier over 5 foreground classes
        'CAMHead': dict(type='CAMHead', in_channels=8, num_classes=5),
        # EPS head: 5 classes + the saliency channel, with EPSLoss
        'EPSHead': dict(type='EPSHead', in_channels=8, num_classes=5),
        # RPNet head on two levels (4 and 8 channels), reduced to 4
        'RegionPrototypeHead': dict(
            type='RegionPrototypeHead',
            in_channels=(4, 8),
            num_classes=5,
            channels=4),
        # AffinityNet's embedding head on three 4-channel levels
        'AffinityHead': dict(
            type='AffinityHead',
            in_channels=(4, 4, 4),
            num_classes=6,
            channels=(2, 2, 2)),
        # IRN's boundary head on five 4-channel taps
        'IRNBoundaryHead': dict(
            type='IRNBoundaryHead',
            in_channels=(4, 4, 4, 4, 4),
            num_classes=6,
            channels=4,
            num_groups=2),
        # PSA's affinity loss with its defaults
        'AffinityLoss': dict(type='AffinityLoss'),
        # EPS's saliency loss with its defaults
        'EPSLoss': dict(type='EPSLoss'),
        # RPNet's consistency loss with its defaults (paper: features)
        'PrototypeConsistencyLoss': dict(type='PrototypeConsistencyLoss'),
        # SPML's ASPP-sum embedding head (two rates) on 8 channels
        'SPMLEmbeddingHead': dict(
            type='SPMLEmbeddingHead',
            in_channels=8,
            embed_dims=4,
            dilations=(1, 2)),
        # SPML's softmax classifier on 4-d embeddings
        'SPMLSoftmaxHead': dict(
            type='SPMLSoftmaxHead', embed_dims=4, num_classes=6, channels=4),
        # SPML: the NCA loss given the sets, and the whole pixel-to-segment
        # loss with its defaults (the code's VOC tag setting)
        'SegSortLoss': dict(type='SegSortLoss'),
        'PixelToSegmentContrastiveLoss': dict(
            type='PixelToSegmentContrastiveLoss'),
        # the dense CRF (not an nn.Module) with PSA's parameters
        'DenseCRF': dict(type='DenseCRF', preset='psa'),
    },
    'dataset': {
        # the synthetic set itself (already generated: generate=None)
        'SyntheticWSSSDataset': dict(_SYNTHETIC_TRAIN, pipeline=[]),
        # VOC layout of the synthetic set, labels from the masks
        'WSSSVOCDataset': dict(type='WSSSVOCDataset', **_VOC_LAYOUT),
        # COCO's 81 classes on the synthetic images and masks (labels 0-5)
        'WSSSCOCODataset': dict(type='WSSSCOCODataset', **_VOC_LAYOUT),
        # every image of the folder, labels from the masks
        'WSSSFolderDataset': dict(
            type='WSSSFolderDataset',
            data_root=DATA_ROOT,
            data_prefix=dict(
                img_path='JPEGImages', seg_map_path='SegmentationClass'),
            label_source='mask',
            metainfo=dict(classes=('background', 'aeroplane', 'boat', 'car',
                                   'person', 'dog')),
            pipeline=[]),
        # at most 2 images per class of the synthetic train split
        'PerClassDrawDataset': dict(
            type='PerClassDrawDataset',
            dataset=dict(_SYNTHETIC_TRAIN, pipeline=[]),
            max_images_per_class=2),
        # a class-balanced half of the synthetic train split
        'ClassBalancedSubsetDataset': dict(
            type='ClassBalancedSubsetDataset',
            dataset=dict(_SYNTHETIC_TRAIN, pipeline=[]),
            fraction=0.5),
        # RPNet's image groups: each synthetic image with 2 references
        'ImageGroupDataset': dict(
            type='ImageGroupDataset',
            dataset=dict(_SYNTHETIC_TRAIN, pipeline=[]),
            num_references=2),
    },
    'transform': {
        # packs inputs, gt_sem_seg, gt_score and image labels
        'PackWSSSInputs': dict(type='PackWSSSInputs'),
        # reads a label map (default key prev_mask)
        'LoadLabelMap': dict(type='LoadLabelMap'),
        # mmseg's LoadAnnotations plus image labels
        'LoadWSSSAnnotations': dict(type='LoadWSSSAnnotations'),
        # reads a saliency map, no fallback
        'LoadSaliencyMap': dict(type='LoadSaliencyMap'),
        # reads saved CAMs (.npz)
        'LoadCAMs': dict(type='LoadCAMs'),
        # CAMs to a confident mask with PSA's thresholds
        'CAMsToConfidentMask': dict(type='CAMsToConfidentMask'),
        # SPML's tag label from CAMs (alpha 6, threshold 0.2), 6 classes
        'TagsToWeakLabel': dict(type='TagsToWeakLabel', num_classes=6),
        # SPML's box label (box-wise CAMs) with the synthetic classes
        'LoadBoxWeakLabel': dict(
            type='LoadBoxWeakLabel',
            classes=('background', 'aeroplane', 'boat', 'car', 'person',
                     'cat')),
        # points dilated by 6 (SPML), 6 classes
        'LoadPointWeakLabel': dict(type='LoadPointWeakLabel', num_classes=6),
        # scribbles dilated by 3 (SPML), 6 classes
        'LoadScribbleWeakLabel': dict(
            type='LoadScribbleWeakLabel', num_classes=6),
        # precomputed over-segmentation (region ids) as gt_region_map
        'LoadRegionMap': dict(type='LoadRegionMap'),
    },
    'metric': {
        # pseudo-mask mIoU with the default background sweep
        'PseudoMaskMetric': dict(type='PseudoMaskMetric'),
        # the relabel pass's metric (prev_mask)
        'RelabelMetric': dict(type='RelabelMetric'),
    },
    'hook': {
        # fits a model's state (class patterns) before testing
        'FitModelStateHook': dict(type='FitModelStateHook'),
        # writes the last validation's metrics to a JSON file
        'MetricsJsonHook': dict(
            type='MetricsJsonHook', path=WORK_DIR + '/metrics.json'),
        # draws a test pass's masks and sweep through the visualizer
        'MaskGridHook': dict(type='MaskGridHook', num_images=2),
        # writes predicted masks (default folder <work_dir>/predictions)
        'PredictionWriterHook': dict(type='PredictionWriterHook'),
        # progress bar of validation and test
        'ProgressBarHook': dict(type='ProgressBarHook'),
        # a checkpoint must fit the model
        'StrictLoadHook': dict(type='StrictLoadHook'),
        # model classes == dataset classes
        'WSSSNumClassCheckHook': dict(type='WSSSNumClassCheckHook'),
    },
    'loop': {
        # the test loop that resumes (built by a tiny Runner)
        'ResumableTestLoop': dict(type='ResumableTestLoop'),
    },
    # mmengine's functions (looked up, not called, as Runner does with
    # collate_fn=dict(type=...))
    'mmengine:function': {
        # flattens a batch of image groups (ImageGroupDataset)
        'group_collate': dict(type='group_collate'),
    },
    'mmwsss:pipeline stage kind': {
        # a train stage's own keys (none)
        'train': dict(),
        # a test stage that writes its masks, without TTA
        'test': dict(tta=False, out=True),
        # SPML's region maps of a config's train split
        'oversegment': dict(
            split='train', algorithm='felzenszwalb',
            params=dict(min_size=20)),
        # point and box labels derived from the masks of a config's split
        'points_boxes': dict(
            split='train', classes='voc', label_seed=0, points=1,
            min_area=50, connectivity=8),
    },
}


def _fill(value: Any, values: Dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, sub in values.items():
            value = value.replace('{' + key + '}', sub)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_fill(v, values) for v in value)
    return value


def fill_placeholders(cfg: Any, data_root: str, work_dir: str) -> Any:
    """A deep copy of ``cfg`` with ``{data_root}`` and ``{work_dir}`` set.

    Args:
        cfg: A config (dicts, lists, tuples, strings, other values).
        data_root (str): The synthetic set's folder.
        work_dir (str): An empty folder.

    Returns:
        The filled copy.
    """
    return _fill(
        copy.deepcopy(cfg), dict(data_root=data_root, work_dir=work_dir))

