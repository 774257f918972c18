# Copyright (c) OpenMMLab. All rights reserved.
"""Picture grids: image | CAM heat map | pseudo mask | ground truth."""
import os.path as osp
from typing import List, Optional, Sequence

import cv2
import numpy as np

__all__ = ['colorize_label', 'cam_heatmap', 'make_grid_row', 'make_grid', 'load_cams']

COLUMNS = ('image', 'CAM', 'pseudo mask', 'ground truth')


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


def make_grid_row(image: np.ndarray, cams: Optional[np.ndarray],
                  pseudo: Optional[np.ndarray], gt: Optional[np.ndarray],
                  palette: Sequence[Sequence[int]],
                  height: int = 160) -> np.ndarray:
    """One row of the grid; missing panels are drawn grey.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        cams (np.ndarray, optional): ``(L, H, W)`` normalised CAMs.
        pseudo (np.ndarray, optional): ``(H, W)`` pseudo mask.
        gt (np.ndarray, optional): ``(H, W)`` ground truth.
        palette (Sequence[Sequence[int]]): Class colours.
        height (int): Row height in pixels; every panel is a
            ``height`` x ``4/3 height`` cell (letterboxed), so the columns
            line up for any aspect ratio. Defaults to 160.

    Returns:
        np.ndarray: ``(height, 4 * cell + 12, 3)`` uint8 RGB.
    """
    blank = np.full_like(image, 128)
    panels = [
        image,
        cam_heatmap(image, cams) if cams is not None else blank,
        colorize_label(pseudo, palette) if pseudo is not None else blank,
        colorize_label(gt, palette) if gt is not None else blank,
    ]
    sep = np.full((height, 4, 3), 255, dtype=np.uint8)
    cell_w = round(height * 4 / 3)
    out: List[np.ndarray] = []
    for i, p in enumerate(panels):
        out.append(_fit(p, height, cell_w))
        if i < len(panels) - 1:
            out.append(sep)
    return np.concatenate(out, axis=1)


def make_grid(rows: Sequence[np.ndarray],
              titles: Optional[Sequence[str]] = None) -> np.ndarray:
    """Stack rows under a header naming the columns.

    Args:
        rows (Sequence[np.ndarray]): Rows of equal height (any widths).
        titles (Sequence[str], optional): A caption per row (image id).

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
    col_w = (rows[0].shape[1] + 4) / len(COLUMNS)
    for i, name in enumerate(COLUMNS):
        cv2.putText(header, name, (int(i * col_w) + 4, 16),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([header] + padded, axis=0)


def load_cams(cam_dir: str, image_id: str) -> Optional[np.ndarray]:
    """Load ``<cam_dir>/<image_id>.npz`` (``PredictionWriterHook`` with
    ``save_maps=True``)."""
    path = osp.join(cam_dir, image_id + '.npz')
    if not osp.isfile(path):
        return None
    with np.load(path) as f:
        return f['cams'].astype(np.float32)
