# Copyright (c) OpenMMLab. All rights reserved.
from .cam_grid import (GRID_COLUMNS, cam_heatmap, class_heatmaps,
                       colorize_label, load_cams, make_grid, make_grid_row,
                       make_panel_row, panel_starts)
from .charts import (MARK_COLOURS, class_iou_chart, figure_to_array,
                     sweep_curve)

__all__ = [
    'colorize_label', 'cam_heatmap', 'class_heatmaps', 'make_panel_row',
    'panel_starts', 'make_grid_row', 'make_grid', 'load_cams',
    'GRID_COLUMNS', 'figure_to_array', 'sweep_curve', 'class_iou_chart',
    'MARK_COLOURS'
]
