# Copyright (c) OpenMMLab. All rights reserved.
from .formatting import PackWSSSInputs

__all__ = ['PackWSSSInputs']
