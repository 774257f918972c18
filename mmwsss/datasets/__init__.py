# Copyright (c) OpenMMLab. All rights reserved.
from .base_wsss import (BaseWSSSDataset, class_balanced_subset,
                        load_cls_label_file)
from .coco import WSSSCOCODataset
from .folder import WSSSFolderDataset
from .synthetic import generate_synthetic_wsss
from .synthetic_dataset import SyntheticWSSSDataset
from .transforms import (CAMsToConfidentMask, LoadBoxWeakLabel, LoadCAMs,
                         LoadLabelMap, LoadPointWeakLabel, LoadRegionMap,
                         LoadSaliencyMap, LoadScribbleWeakLabel,
                         LoadWSSSAnnotations, PackWSSSInputs,
                         TagsToWeakLabel)
from .voc import WSSSVOCDataset
from .wrappers import (ClassBalancedSubsetDataset, ImageGroupDataset,
                       PerClassDrawDataset, group_collate, sample_per_class)

__all__ = [
    'BaseWSSSDataset', 'WSSSVOCDataset', 'WSSSCOCODataset',
    'WSSSFolderDataset', 'SyntheticWSSSDataset', 'generate_synthetic_wsss',
    'load_cls_label_file', 'class_balanced_subset', 'sample_per_class',
    'PerClassDrawDataset', 'ClassBalancedSubsetDataset', 'ImageGroupDataset',
    'group_collate',
    'LoadWSSSAnnotations', 'PackWSSSInputs', 'LoadSaliencyMap', 'LoadCAMs',
    'CAMsToConfidentMask', 'LoadLabelMap', 'TagsToWeakLabel',
    'LoadBoxWeakLabel', 'LoadPointWeakLabel', 'LoadScribbleWeakLabel',
    'LoadRegionMap'
]
