# Copyright (c) OpenMMLab. All rights reserved.
"""Charts of a pseudo-mask run: the background sweep curve and the
per-class IoU of each stage, drawn with matplotlib into ``uint8`` RGB
arrays (for mmengine's visualizer backends and for files).

matplotlib's object API (``Figure`` + the Agg canvas) is used, never
``pyplot``: no global figure state and no display is needed.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ['figure_to_array', 'sweep_curve', 'class_iou_chart',
           'MARK_COLOURS']

#: The marker colour of each marked sweep point (RGB), as drawn by
#: :func:`sweep_curve`.
MARK_COLOURS = dict(
    configured=(214, 39, 40), oracle=(44, 160, 44), gt_free=(31, 119, 180))
_MARK_LABELS = dict(
    configured='configured', oracle='oracle (GT-tuned)',
    gt_free='GT-free (Otsu)')


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render a matplotlib figure to ``(H, W, 3)`` uint8 RGB."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def sweep_curve(values: Sequence[float],
                miou: Sequence[float],
                marks: Optional[Dict[str, int]] = None,
                miou_crf: Optional[Sequence[Optional[float]]] = None,
                xlabel: str = 'background threshold',
                title: str = 'pseudo-mask mIoU over the background sweep',
                size: Tuple[float, float] = (5.0, 3.4),
                dpi: int = 100,
                return_points: bool = False):
    """mIoU against the background value, with the chosen points marked.

    Args:
        values (Sequence[float]): The swept background values (x).
        miou (Sequence[float]): mIoU (%) at each value, without CRF.
        marks (dict, optional): ``{'configured' | 'oracle' | 'gt_free':
            index into values}``; each is drawn as a large dot of its
            :data:`MARK_COLOURS` colour, with its mIoU in the legend.
        miou_crf (Sequence[float | None], optional): mIoU with the CRF at
            the values where it was computed (None elsewhere), drawn
            dashed.
        xlabel (str): The x axis label.
        title (str): The title.
        size (tuple[float, float]): Inches. Defaults to (5, 3.4).
        dpi (int): Dots per inch. Defaults to 100.
        return_points (bool): Also return where each mark was drawn.

    Returns:
        np.ndarray | tuple: ``(H, W, 3)`` uint8 RGB; with
        ``return_points``, also ``{mark: (row, column)}``, the pixel of
        each mark's centre.
    """
    fig = Figure(figsize=size, dpi=dpi)
    ax = fig.add_subplot()
    ax.plot(values, miou, color='0.3', marker='.', lw=1.2,
            label='mIoU (no CRF)')
    if miou_crf is not None:
        pts = [(v, m) for v, m in zip(values, miou_crf) if m is not None]
        if pts:
            ax.plot(*zip(*pts), color='0.6', ls='--', marker='x', lw=1,
                    label='mIoU (CRF)')
    for key, idx in (marks or {}).items():
        if idx is None:
            continue
        colour = np.asarray(MARK_COLOURS[key]) / 255
        ax.plot([values[idx]], [miou[idx]], 'o', ms=9, color=colour,
                label=f'{_MARK_LABELS[key]}: {values[idx]:g} -> '
                f'{miou[idx]:.2f}', zorder=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel('mIoU (%)')
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='best')
    fig.tight_layout()
    image = figure_to_array(fig)
    if not return_points:
        return image
    points = {}
    for key, idx in (marks or {}).items():
        if idx is not None:
            x, y = ax.transData.transform((values[idx], miou[idx]))
            points[key] = (int(round(image.shape[0] - y)), int(round(x)))
    return image, points


def class_iou_chart(class_names: Sequence[str],
                    stage_ious: Dict[str, Sequence[float]],
                    title: str = 'per-class IoU of each stage',
                    dpi: int = 100) -> np.ndarray:
    """Grouped bars: the IoU (%) of every class, one bar per stage.

    Args:
        class_names (Sequence[str]): The classes (x).
        stage_ious (dict): ``{stage name: IoU per class}`` (NaN: the class
            is in neither the masks nor the ground truth; drawn as no bar).
        title (str): The title.
        dpi (int): Dots per inch. Defaults to 100.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB.
    """
    n, k = len(class_names), max(1, len(stage_ious))
    fig = Figure(figsize=(max(5.0, 0.45 * n * (1 + 0.25 * k)), 3.4), dpi=dpi)
    ax = fig.add_subplot()
    width = 0.8 / k
    x = np.arange(n)
    for i, (stage, ious) in enumerate(stage_ious.items()):
        ious = np.asarray(ious, dtype=float)
        ax.bar(x - 0.4 + width * (i + 0.5), np.nan_to_num(ious), width,
               label=f'{stage} (mIoU {np.nanmean(ious):.1f})')
    ax.set_xticks(x)
    ax.set_xticklabels(class_names, rotation=45, ha='right', fontsize=7)
    ax.set_ylabel('IoU (%)')
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    ax.grid(axis='y', alpha=0.3)
    ax.legend(fontsize=7, loc='upper right')
    fig.tight_layout()
    return figure_to_array(fig)
