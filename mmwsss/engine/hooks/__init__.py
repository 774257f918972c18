# Copyright (c) OpenMMLab. All rights reserved.
from .metrics_json_hook import MetricsJsonHook, metrics_to_jsonable
from .num_class_check_hook import WSSSNumClassCheckHook
from .progress_bar_hook import ProgressBarHook

__all__ = [
    'MetricsJsonHook', 'WSSSNumClassCheckHook', 'ProgressBarHook',
    'metrics_to_jsonable'
]
