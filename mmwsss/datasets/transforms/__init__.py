# Copyright (c) OpenMMLab. All rights reserved.
from .formatting import PackWSSSInputs
from .loading import LoadWSSSAnnotations

__all__ = ['PackWSSSInputs', 'LoadWSSSAnnotations']
