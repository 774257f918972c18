# Copyright (c) OpenMMLab. All rights reserved.
from ._utils import (REPO_ROOT, demo_wsss_inputs, get_config,
                     tiny_cam_model_cfg)

__all__ = ['REPO_ROOT', 'get_config', 'demo_wsss_inputs', 'tiny_cam_model_cfg']
