# Copyright (c) OpenMMLab. All rights reserved.
import numpy as np

from mmwsss.visualization import (MARK_COLOURS, cam_heatmap,
                                  class_iou_chart, colorize_label, make_grid,
                                  make_grid_row, make_panel_row, panel_starts,
                                  sweep_curve)


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


PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0]]


def test_grid_row_draws_the_mask_colour_in_its_cell():
    # a 30 x 40 image; mask: left half class 1, right half class 2
    img = np.full((30, 40, 3), 50, np.uint8)
    mask = np.zeros((30, 40), np.uint8)
    mask[:, :20], mask[:, 20:] = 1, 2
    gt = np.full((30, 40), 255, np.uint8)  # all ignored: drawn white
    cams = np.stack([np.zeros((30, 40)), np.ones((30, 40))])
    row = make_grid_row(img, cams, mask, gt, PALETTE, height=60,
                        cam_names=['a', 'b'], maps_width=2)
    # cells: image 80 | maps 160 | mask 80 | gt 80, 4-px separators
    assert panel_starts(60, [1, 2, 1, 1]) == [0, 84, 248, 332]
    assert row.shape == (60, 80 + 160 + 80 + 80 + 3 * 4, 3)
    # 30 x 40 scaled by min(60/30, 80/40) = 2 fills the 60 x 80 cell:
    # mask pixel (r, c) -> cell pixel (2r, 2c)
    assert row[10, 248 + 10].tolist() == [128, 0, 0]  # class 1
    assert row[50, 248 + 70].tolist() == [0, 128, 0]  # class 2
    assert row[30, 332 + 40].tolist() == [255, 255, 255]  # ignore
    # the maps cell holds one heat map per class, side by side; class a's
    # map is 0 (jet blue), class b's 1 (jet red), away from the captions
    a, b = row[40, 84 + 40], row[40, 84 + 80 + 40]
    assert a[2] > a[0] and b[0] > b[2]
    # no maps: a grey cell
    grey = make_grid_row(img, None, mask, gt, PALETTE, height=60)
    assert grey[30, 84 + 40].tolist() == [128, 128, 128]


def test_panel_row_grey_for_missing_panels():
    red = np.zeros((3, 4, 3), np.uint8)
    red[..., 0] = 255
    row = make_panel_row([red, None], height=3)
    assert row.shape == (3, 4 + 4 + 4, 3)
    assert row[1, 1].tolist() == [255, 0, 0]
    assert row[1, 4:8].tolist() == [[255, 255, 255]] * 4  # separator
    assert row[1, 9].tolist() == [128, 128, 128]


def test_sweep_curve_marks_its_points_in_their_colours():
    values, miou = [0.1, 0.2, 0.3, 0.4], [10.0, 30.0, 25.0, 5.0]
    image, points = sweep_curve(
        values, miou, marks=dict(configured=2, oracle=1, gt_free=0),
        miou_crf=[None, 35.0, None, None], return_points=True)
    assert image.dtype == np.uint8 and image.ndim == 3
    for key, (r, c) in points.items():
        assert image[r, c].tolist() == list(MARK_COLOURS[key]), key
    # x grows with the value, y (row) falls as the mIoU rises
    assert points['gt_free'][1] < points['oracle'][1] < points[
        'configured'][1]
    assert points['oracle'][0] < points['configured'][0] < points[
        'gt_free'][0]


def test_class_iou_chart_draws_one_bar_colour_per_stage():
    chart = class_iou_chart(['bg', 'a'], {
        's1': [50.0, float('nan')],
        's2': [100.0, 20.0]
    })
    colours = {tuple(p) for p in chart.reshape(-1, 3)}
    # matplotlib's first two cycle colours, C0 and C1
    assert (31, 119, 180) in colours and (255, 127, 14) in colours
