# Copyright (c) OpenMMLab. All rights reserved.
from .checkpoint import (SAFE_GLOBALS, load_from_local, register_safe_globals,
                         state_dict_mismatch)
from .io import atomic_write_bytes, save_npz_atomic, save_palette_png

__all__ = [
    'SAFE_GLOBALS', 'register_safe_globals', 'load_from_local',
    'state_dict_mismatch',
    'atomic_write_bytes', 'save_palette_png', 'save_npz_atomic'
]
