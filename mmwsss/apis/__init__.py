# Copyright (c) OpenMMLab. All rights reserved.
from .tools_utils import (apply_common_args, configure_relabel,
                          configure_seg_crf, set_data_root, setup_distributed,
                          single_scale_tta_pipeline)

__all__ = [
    'apply_common_args', 'configure_relabel', 'configure_seg_crf',
    'set_data_root', 'setup_distributed', 'single_scale_tta_pipeline'
]
