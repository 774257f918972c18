# Copyright (c) OpenMMLab. All rights reserved.
from ._pipeline import (PIPELINES, TINY_GENERATE, write_tiny_affinity_config,
                        write_tiny_cam_config, write_tiny_classpattern_config,
                        write_tiny_eps_config, write_tiny_pipeline_config,
                        write_tiny_irn_config, write_tiny_relabel_config,
                        write_tiny_spml_config,
                        write_tiny_spml_round2_config,
                        write_tiny_rpnet_config, write_tiny_seg_config)
from ._registry import (all_registries, build_registered, import_submodules,
                        is_segmentor, registered_modules, registry_key,
                        run_segmentor, segmentor_demo_batch)
from ._registry_configs import REGISTRY_CONFIGS, fill_placeholders
from ._tools import (free_port, run_script, run_scripts, run_tool,
                     start_script)
from ._utils import (REPO_ROOT, demo_wsss_inputs, get_config,
                     tiny_cam_model_cfg)

__all__ = [
    'REPO_ROOT', 'get_config', 'demo_wsss_inputs', 'tiny_cam_model_cfg',
    'TINY_GENERATE', 'PIPELINES', 'write_tiny_cam_config',
    'write_tiny_seg_config', 'write_tiny_pipeline_config',
    'write_tiny_eps_config', 'write_tiny_affinity_config',
    'write_tiny_classpattern_config', 'write_tiny_relabel_config',
    'write_tiny_rpnet_config', 'write_tiny_irn_config',
    'write_tiny_spml_config', 'write_tiny_spml_round2_config',
    'REGISTRY_CONFIGS',
    'fill_placeholders', 'import_submodules', 'all_registries',
    'registered_modules',
    'registry_key', 'is_segmentor', 'build_registered',
    'segmentor_demo_batch', 'run_segmentor', 'run_tool', 'run_script',
    'run_scripts', 'start_script', 'free_port'
]
