# Copyright (c) OpenMMLab. All rights reserved.
from .num_class_check_hook import WSSSNumClassCheckHook
from .progress_bar_hook import ProgressBarHook

__all__ = ['WSSSNumClassCheckHook', 'ProgressBarHook']
