# Copyright (c) OpenMMLab. All rights reserved.
from .deeplabv2_head import DeepLabV2Head
from .largefov_head import DeepLabLargeFOVHead

__all__ = ['DeepLabV2Head', 'DeepLabLargeFOVHead']
