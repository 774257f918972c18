# Copyright (c) OpenMMLab. All rights reserved.
from .cam_segmentor import CAMSegmentor
from .crf_seg_tta import CRFSegTTAModel

__all__ = ['CAMSegmentor', 'CRFSegTTAModel']
