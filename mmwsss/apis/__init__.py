# Copyright (c) OpenMMLab. All rights reserved.
from .tools_utils import (apply_common_args, configure_pattern_pass,
                          configure_relabel, configure_seg_crf,
                          load_tool_config, set_data_root, setup_distributed,
                          single_scale_tta_pipeline, write_metrics_json)

__all__ = [
    'apply_common_args', 'configure_pattern_pass', 'configure_relabel',
    'configure_seg_crf', 'load_tool_config', 'set_data_root',
    'setup_distributed', 'single_scale_tta_pipeline', 'write_metrics_json'
]
