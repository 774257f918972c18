# Copyright (c) OpenMMLab. All rights reserved.
from .cam_segmentor import CAMSegmentor

__all__ = ['CAMSegmentor']
