# Copyright (c) OpenMMLab. All rights reserved.
from .pseudo_mask_metric import PseudoMaskMetric, otsu_threshold
from .relabel_metric import RelabelMetric

__all__ = ['PseudoMaskMetric', 'otsu_threshold', 'RelabelMetric']
