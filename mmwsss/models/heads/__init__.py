# Copyright (c) OpenMMLab. All rights reserved.
from .cam_head import CAMHead

__all__ = ['CAMHead']
