# Copyright (c) OpenMMLab. All rights reserved.
from .affinity_loss import AffinityLoss, affinity_pair_labels
from .eps_loss import EPSLoss, eps_estimated_saliency, eps_split_classes
from .prototype_consistency_loss import (PrototypeConsistencyLoss,
                                         max_normalize_cams)
from .segsort_loss import (SegSortLoss, segsort_nca_loss,
                           segsort_nca_per_pixel, segsort_plus_sets)
from .spml_loss import (PixelToSegmentContrastiveLoss, cooccurrence_sets,
                        feature_affinity_sets, image_similarity_sets,
                        labels_to_tags, propagate_segment_labels,
                        semantic_annotation_sets)

__all__ = [
    'EPSLoss', 'eps_split_classes', 'eps_estimated_saliency', 'AffinityLoss',
    'affinity_pair_labels', 'PrototypeConsistencyLoss', 'max_normalize_cams',
    'SegSortLoss', 'segsort_nca_loss', 'segsort_nca_per_pixel',
    'segsort_plus_sets', 'PixelToSegmentContrastiveLoss',
    'semantic_annotation_sets', 'cooccurrence_sets', 'image_similarity_sets',
    'propagate_segment_labels', 'feature_affinity_sets', 'labels_to_tags'
]
