# Copyright (c) OpenMMLab. All rights reserved.
from .affinity_net import AffinityNet
from .cam_segmentor import CAMSegmentor
from .crf_seg_tta import CRFSegTTAModel

__all__ = ['CAMSegmentor', 'CRFSegTTAModel', 'AffinityNet']
