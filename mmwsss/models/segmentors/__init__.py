# Copyright (c) OpenMMLab. All rights reserved.
from .affinity_net import AffinityNet
from .backbone_segmentor import BackboneSegmentor
from .cam_segmentor import CAMSegmentor
from .crf_seg_tta import CRFSegTTAModel

__all__ = [
    'BackboneSegmentor', 'CAMSegmentor', 'CRFSegTTAModel', 'AffinityNet'
]
