# Copyright (c) OpenMMLab. All rights reserved.
from .fit_model_state_hook import FitModelStateHook, file_sha256
from .mask_grid_hook import MaskGridHook, choose_images
from .metrics_json_hook import MetricsJsonHook, metrics_to_jsonable
from .num_class_check_hook import WSSSNumClassCheckHook
from .prediction_writer_hook import PredictionWriterHook, image_id
from .progress_bar_hook import ProgressBarHook
from .strict_load_hook import StrictLoadHook

__all__ = [
    'FitModelStateHook', 'file_sha256',
    'MetricsJsonHook', 'WSSSNumClassCheckHook', 'ProgressBarHook',
    'metrics_to_jsonable', 'PredictionWriterHook', 'image_id',
    'StrictLoadHook', 'MaskGridHook', 'choose_images'
]
