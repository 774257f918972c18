# Copyright (c) OpenMMLab. All rights reserved.
from .in_process import (isolated_globals, load_tool, run_tool_in_process,
                         scoped_mmengine_instances)
from .tools_utils import (apply_common_args, load_tool_config, set_data_root,
                          set_resume, setup_distributed, write_metrics_json)

__all__ = [
    'apply_common_args', 'load_tool_config', 'set_data_root', 'set_resume',
    'setup_distributed', 'write_metrics_json', 'isolated_globals',
    'load_tool', 'run_tool_in_process', 'scoped_mmengine_instances'
]
