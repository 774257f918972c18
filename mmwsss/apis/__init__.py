# Copyright (c) OpenMMLab. All rights reserved.
from .tools_utils import apply_common_args, set_data_root, setup_distributed

__all__ = ['apply_common_args', 'set_data_root', 'setup_distributed']
