# Copyright (c) OpenMMLab. All rights reserved.
from .affinity_head import AffinityHead, downsample_label
from .cam_head import CAMHead
from .eps_head import EPSHead
from .irn_boundary_head import IRNBoundaryHead, nearest_label
from .region_prototype_head import RegionPrototypeHead
from .spml_embedding_head import SPMLEmbeddingHead, SPMLSoftmaxHead

__all__ = [
    'CAMHead', 'EPSHead', 'AffinityHead', 'downsample_label',
    'RegionPrototypeHead', 'IRNBoundaryHead', 'nearest_label',
    'SPMLEmbeddingHead', 'SPMLSoftmaxHead'
]
