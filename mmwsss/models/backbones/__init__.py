# Copyright (c) OpenMMLab. All rights reserved.
from .resnet38d import ResNet38d, convert_psa_resnet38d

__all__ = ['ResNet38d', 'convert_psa_resnet38d']
