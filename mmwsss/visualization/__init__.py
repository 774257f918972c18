# Copyright (c) OpenMMLab. All rights reserved.
from .cam_grid import (cam_heatmap, colorize_label, load_cams, make_grid,
                       make_grid_row)

__all__ = [
    'colorize_label', 'cam_heatmap', 'make_grid_row', 'make_grid', 'load_cams'
]
