# Copyright (c) OpenMMLab. All rights reserved.
"""Picture grids: image | CAM heat maps | pseudo mask | ground truth.

The drawing is plain numpy/OpenCV on ``uint8`` RGB arrays, so that a hook
(:class:`~mmwsss.engine.MaskGridHook`), the pipeline's summary and the
``tools/analysis_tools/cam_grid.py`` command draw the same pictures and a
test can check their pixels.
"""
import os.path as osp
from typing import List, Optional, Sequence

import cv2
import numpy as np

__all__ = [
    'colorize_label', 'cam_heatmap', 'class_heatmaps', 'make_panel_row',
    'make_grid_row', 'make_grid', 'load_cams', 'panel_starts', 'GRID_COLUMNS'
]

#: The columns of :func:`make_grid_row`.
GRID_COLUMNS = ('image', 'maps of its classes', 'mask', 'ground truth')
COLUMNS = GRID_COLUMNS  # the name of earlier releases


def colorize_label(label: np.ndarray,
                   palette: Sequence[Sequence[int]]) -> np.ndarray:
    """RGB picture of a label map; 255 (ignore) is drawn white.

    Args:
        label (np.ndarray): ``(H, W)`` integer labels.
        palette (Sequence[Sequence[int]]): RGB colour per class.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB.
    """
    lut = np.zeros((256, 3), dtype=np.uint8)
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:255]
    lut[:len(pal)] = pal
    lut[255] = 255
    return lut[np.asarray(label, dtype=np.uint8)]


def cam_heatmap(image: np.ndarray, cams: np.ndarray,
                alpha: float = 0.5) -> np.ndarray:
    """Overlay the per-pixel maximum of normalised CAMs as a jet heat map.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        cams (np.ndarray): ``(L, H, W)`` CAMs in ``[0, 1]``; ``L`` may be 0.
        alpha (float): Weight of the heat map. Defaults to 0.5.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB.
    """
    peak = cams.max(axis=0) if len(cams) else np.zeros(image.shape[:2])
    peak = np.clip(peak, 0, 1)
    heat = cv2.applyColorMap((peak * 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return (alpha * heat + (1 - alpha) * image).astype(np.uint8)


def class_heatmaps(image: np.ndarray,
                   cams: np.ndarray,
                   names: Sequence[str],
                   alpha: float = 0.5) -> np.ndarray:
    """Each class map as its own heat map, side by side, captioned.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        cams (np.ndarray): ``(L, H, W)`` maps in ``[0, 1]``, one per class
            of the image.
        names (Sequence[str]): ``L`` captions (class names).
        alpha (float): Weight of the heat maps. Defaults to 0.5.

    Returns:
        np.ndarray: ``(H, L * W, 3)`` uint8 RGB (the image alone, grey, when
        ``L`` is 0).
    """
    if len(cams) == 0:
        return np.full_like(image, 128)
    tiles = []
    for cam, name in zip(cams, names):
        tile = cam_heatmap(image, cam[None], alpha)
        scale = max(0.3, image.shape[0] / 200)
        cv2.putText(tile, str(name), (2, max(10, int(12 * scale))),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * scale, (255, 255, 255),
                    1, cv2.LINE_AA)
        tiles.append(tile)
    return np.concatenate(tiles, axis=1)


def _fit(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize ``img`` to fit a ``height`` x ``width`` cell, letterboxed."""
    h, w = img.shape[:2]
    scale = min(height / h, width / w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA
    resized = cv2.resize(img, (new_w, new_h), interpolation=interp)
    cell = np.full((height, width, 3), 255, dtype=np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    cell[top:top + new_h, left:left + new_w] = resized
    return cell


def panel_starts(height: int, widths: Sequence[float]) -> List[int]:
    """Where each cell of :func:`make_panel_row` starts (pixels).

    Args:
        height (int): The row height.
        widths (Sequence[float]): The cell widths, in cells.

    Returns:
        list[int]: The x of each cell's first column.
    """
    starts, x = [], 0
    for w in widths:
        starts.append(x)
        x += round(height * 4 / 3 * w) + 4
    return starts


def make_panel_row(panels: Sequence[Optional[np.ndarray]],
                   height: int = 160,
                   widths: Optional[Sequence[float]] = None) -> np.ndarray:
    """Panels side by side, each letterboxed into its cell.

    Args:
        panels (Sequence[np.ndarray | None]): ``(H, W, 3)`` uint8 RGB
            pictures; ``None`` draws a grey cell (nothing to show).
        height (int): Row height in pixels. Defaults to 160.
        widths (Sequence[float], optional): Cell width of each panel in
            units of ``4/3 height``. Defaults to 1 for every panel.

    Returns:
        np.ndarray: ``(height, sum of cell widths + 4 * (n - 1), 3)`` uint8
        RGB; cells are separated by 4 white columns.
    """
    sep = np.full((height, 4, 3), 255, dtype=np.uint8)
    widths = widths or [1] * len(panels)
    out: List[np.ndarray] = []
    for i, (p, w) in enumerate(zip(panels, widths)):
        cell_w = round(height * 4 / 3 * w)
        if p is None:
            out.append(np.full((height, cell_w, 3), 128, dtype=np.uint8))
        else:
            out.append(_fit(p, height, cell_w))
        if i < len(panels) - 1:
            out.append(sep)
    return np.concatenate(out, axis=1)


def make_grid_row(image: np.ndarray,
                  cams: Optional[np.ndarray],
                  pseudo: Optional[np.ndarray],
                  gt: Optional[np.ndarray],
                  palette: Sequence[Sequence[int]],
                  height: int = 160,
                  cam_names: Optional[Sequence[str]] = None,
                  maps_width: float = 1) -> np.ndarray:
    """One row of the grid (:data:`GRID_COLUMNS`); missing panels are grey.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        cams (np.ndarray, optional): ``(L, H, W)`` normalised CAMs.
        pseudo (np.ndarray, optional): ``(H, W)`` mask.
        gt (np.ndarray, optional): ``(H, W)`` ground truth.
        palette (Sequence[Sequence[int]]): Class colours.
        height (int): Row height in pixels; every panel is a
            ``height`` x ``4/3 height`` cell (letterboxed), so the columns
            line up for any aspect ratio. Defaults to 160.
        cam_names (Sequence[str], optional): A name per map: each map is
            drawn as its own captioned heat map (:func:`class_heatmaps`);
            without names, one heat map of their per-pixel maximum.
        maps_width (float): Width of the maps cell in cells (e.g. the
            largest number of classes of an image of the grid). Defaults
            to 1.

    Returns:
        np.ndarray: ``(height, width, 3)`` uint8 RGB.
    """
    if cams is None:
        maps = None
    elif cam_names is not None:
        maps = class_heatmaps(image, cams, cam_names)
    else:
        maps = cam_heatmap(image, cams)
    panels = [
        image, maps,
        colorize_label(pseudo, palette) if pseudo is not None else None,
        colorize_label(gt, palette) if gt is not None else None
    ]
    return make_panel_row(panels, height, [1, maps_width, 1, 1])


def make_grid(rows: Sequence[np.ndarray],
              titles: Optional[Sequence[str]] = None,
              columns: Sequence[str] = GRID_COLUMNS,
              column_x: Optional[Sequence[int]] = None) -> np.ndarray:
    """Stack rows under a header naming the columns.

    Args:
        rows (Sequence[np.ndarray]): Rows of equal height (any widths).
        titles (Sequence[str], optional): A caption per row (image id).
        columns (Sequence[str]): The column names. Defaults to
            :data:`GRID_COLUMNS`.
        column_x (Sequence[int], optional): Where each column starts;
            defaults to equal columns over the first row.

    Returns:
        np.ndarray: The grid, uint8 RGB.
    """
    width = max(r.shape[1] for r in rows)
    padded = []
    for i, r in enumerate(rows):
        canvas = np.full((r.shape[0] + 18, width, 3), 255, dtype=np.uint8)
        canvas[18:, :r.shape[1]] = r
        if titles is not None:
            cv2.putText(canvas, str(titles[i]), (4, 13),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                        cv2.LINE_AA)
        padded.append(canvas)
    header = np.full((22, width, 3), 255, dtype=np.uint8)
    if column_x is None:
        col_w = (rows[0].shape[1] + 4) / len(columns)
        column_x = [int(i * col_w) for i in range(len(columns))]
    for x, name in zip(column_x, columns):
        cv2.putText(header, name, (int(x) + 4, 16),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([header] + padded, axis=0)


def load_cams(cam_dir: str, image_id: str, with_labels: bool = False):
    """Load ``<cam_dir>/<image_id>.npz`` (``PredictionWriterHook`` with
    ``save_maps=True``).

    Returns:
        np.ndarray | tuple | None: The ``(L, H, W)`` maps (float32), with
        ``with_labels`` also their ``(L,)`` class indices; None when there
        is no file.
    """
    path = osp.join(cam_dir, image_id + '.npz')
    if not osp.isfile(path):
        return None
    with np.load(path) as f:
        cams = f['cams'].astype(np.float32)
        if with_labels:
            return cams, f['labels'].astype(np.int64)
        return cams
