# Copyright (c) OpenMMLab. All rights reserved.
import numpy as np

from mmwsss.visualization import (cam_heatmap, colorize_label, make_grid,
                                  make_grid_row)


def test_colorize_label_values():
    label = np.array([[0, 1], [255, 2]], dtype=np.uint8)
    rgb = colorize_label(label, [[0, 0, 0], [128, 0, 0], [0, 128, 0]])
    assert rgb[0, 1].tolist() == [128, 0, 0]
    assert rgb[1, 1].tolist() == [0, 128, 0]
    assert rgb[1, 0].tolist() == [255, 255, 255]  # ignore


def test_cam_heatmap_is_hot_where_cam_is_high():
    img = np.zeros((2, 2, 3), np.uint8)
    cams = np.array([[[0.0, 1.0], [0.0, 0.0]]])
    out = cam_heatmap(img, cams, alpha=1.0)
    # jet: 0 -> dark blue, 1 -> dark red
    assert out[0, 0, 2] > out[0, 0, 0]
    assert out[0, 1, 0] > out[0, 1, 2]
    # no maps (background-only image): the blue of the minimum everywhere
    assert (cam_heatmap(img, np.zeros((0, 2, 2)), 1.0) == out[0, 0]).all()


def test_grid_layout():
    img = np.full((20, 30, 3), 200, np.uint8)
    lbl = np.zeros((20, 30), np.uint8)
    row = make_grid_row(img, None, lbl, lbl, [[0, 0, 0]], height=40)
    # four 40 x 53 cells (4/3 of the height) and three 4-px separators
    assert row.shape == (40, 4 * 53 + 3 * 4, 3)
    # a 20 x 30 image scaled by min(40/20, 53/30) = 1.767 -> 35 x 53,
    # centred vertically: white bands above and below
    assert (row[:2, :53] == 255).all() and (row[3:37, :53] == 200).all()
    grid = make_grid([row, row], ['a', 'b'])
    assert grid.shape == (22 + 2 * (40 + 18), row.shape[1], 3)
