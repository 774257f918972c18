# Copyright (c) OpenMMLab. All rights reserved.
from ._pipeline import (PIPELINES, TINY_GENERATE, write_tiny_affinity_config,
                        write_tiny_cam_config, write_tiny_classpattern_config,
                        write_tiny_eps_config, write_tiny_pipeline_config,
                        write_tiny_relabel_config, write_tiny_seg_config)
from ._utils import (REPO_ROOT, demo_wsss_inputs, get_config,
                     tiny_cam_model_cfg)

__all__ = [
    'REPO_ROOT', 'get_config', 'demo_wsss_inputs', 'tiny_cam_model_cfg',
    'TINY_GENERATE', 'PIPELINES', 'write_tiny_cam_config',
    'write_tiny_seg_config', 'write_tiny_pipeline_config',
    'write_tiny_eps_config', 'write_tiny_affinity_config',
    'write_tiny_classpattern_config', 'write_tiny_relabel_config'
]
