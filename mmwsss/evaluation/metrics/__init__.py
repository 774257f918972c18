# Copyright (c) OpenMMLab. All rights reserved.
from .class_pattern_metric import ClassPatternMetric
from .pseudo_mask_metric import PseudoMaskMetric, otsu_threshold
from .relabel_metric import RelabelMetric, fill_pseudo_mask

__all__ = [
    'ClassPatternMetric', 'PseudoMaskMetric', 'otsu_threshold',
    'RelabelMetric', 'fill_pseudo_mask'
]
