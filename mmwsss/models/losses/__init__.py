# Copyright (c) OpenMMLab. All rights reserved.
from .affinity_loss import AffinityLoss, affinity_pair_labels
from .eps_loss import EPSLoss, eps_estimated_saliency, eps_split_classes
from .prototype_consistency_loss import (PrototypeConsistencyLoss,
                                         max_normalize_cams)

__all__ = [
    'EPSLoss', 'eps_split_classes', 'eps_estimated_saliency', 'AffinityLoss',
    'affinity_pair_labels', 'PrototypeConsistencyLoss', 'max_normalize_cams'
]
