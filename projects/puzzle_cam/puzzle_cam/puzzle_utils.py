# Copyright (c) OpenMMLab. All rights reserved.
"""The puzzle module of Puzzle-CAM: tiling, merging, the reconstruction loss
and the schedule of its weight.

`Puzzle-CAM <https://arxiv.org/abs/2101.11253>`_ (Jo & Yu, ICIP 2021) cuts
each training image into a ``g x g`` grid of tiles, classifies the tiles
separately and re-assembles their class activation maps into one map of the
whole image. The functions here are written from the paper and from the
facts of the official code (``OFRIN/PuzzleCAM``: ``core/puzzle_utils.py``,
``train_classification_with_puzzle.py``, ``tools/ai/torch_utils.py``);
no code is copied from it.
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'tile_images', 'merge_tiles', 'reconstruction_loss', 'alpha_at',
    'RE_LOSSES', 'RE_MASKS'
]

#: Distances of the reconstruction loss (official ``--re_loss``:
#: ``L1_Loss`` / ``L2_Loss``).
RE_LOSSES = ('l1', 'l2')
#: Which maps the reconstruction loss compares (official
#: ``--re_loss_option``: ``masking`` / ``selection`` / ``none``).
RE_MASKS = ('labels', 'selection', 'none')


def _padded(size: int, grid: int, size_divisor: int) -> int:
    """The smallest multiple of ``grid * size_divisor`` that is >= size."""
    step = grid * size_divisor
    return -(-size // step) * step


def tile_images(x: Tensor, grid: int = 2, size_divisor: int = 1) -> Tensor:
    """Cut a batch into a ``grid x grid`` grid of equal tiles.

    The batch is first zero-padded at the bottom and the right to a multiple
    of ``grid * size_divisor`` (nothing happens when it already is one), so
    that every tile has the same size ``(ceil'(H / g), ceil'(W / g))`` and
    the tiles of all images form one batch. Zero is the padding value of
    mmseg's ``SegDataPreProcessor`` after normalisation, i.e. the padding of
    a tile looks like the padding of a smaller image in the same batch.

    The tiles are ordered tile-major, row by row, as in the official code
    (``core/puzzle_utils.py::tile_features``): the output's first ``B``
    images are the top-left tiles of the ``B`` inputs, then the tiles right
    of them, and so on::

        +---+---+
        | 0 | 1 |        out[t * B + b] = tile t of image b
        +---+---+
        | 2 | 3 |
        +---+---+

    Args:
        x (Tensor): ``(B, C, H, W)``.
        grid (int): Tiles per side ``g``. Defaults to 2 (the paper's four
            pieces).
        size_divisor (int): Each tile's side is made a multiple of it.
            Defaults to 1.

    Returns:
        Tensor: ``(g * g * B, C, H' / g, W' / g)`` where ``H'``, ``W'`` are
        the padded sizes.
    """
    if grid < 1 or size_divisor < 1:
        raise ValueError(f'grid and size_divisor must be >= 1, got {grid}, '
                         f'{size_divisor}')
    height, width = x.shape[-2:]
    pad_h = _padded(height, grid, size_divisor) - height
    pad_w = _padded(width, grid, size_divisor) - width
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), value=0.0)
    tile_h, tile_w = x.shape[-2] // grid, x.shape[-1] // grid
    tiles = []
    for row in range(grid):
        for col in range(grid):
            tiles.append(x[..., row * tile_h:(row + 1) * tile_h,
                           col * tile_w:(col + 1) * tile_w])
    return torch.cat(tiles, dim=0)


def merge_tiles(tiles: Tensor,
                grid: int = 2,
                size: Optional[Sequence[int]] = None) -> Tensor:
    """Re-assemble :func:`tile_images` tiles (or maps computed from them).

    The inverse of :func:`tile_images`: ``merge_tiles(tile_images(x, g, d),
    g, size=x.shape[-2:])`` equals ``x`` exactly, for any ``H`` and ``W``.

    For maps of the tiles (e.g. their CAMs at output stride ``s``), the
    merged map has ``g * h_t`` rows, where ``h_t`` is the rows of a tile's
    map. With ``size`` set to the map of the whole image, the merged map is
    cropped at the bottom/right to it; when every tile's side is a multiple
    of ``s`` (``size_divisor`` of :func:`tile_images`) its cells sit on the
    same grid as the whole image's (cell ``i`` at pixel ``i * s``), so the
    crop only drops the cells of the padding. (When ``H`` is not a multiple
    of ``s`` the last, partial cell sees the tile's zero padding in the
    merged map and the network's own border in the full map.) If the merged
    map is smaller
    than ``size`` along a side (a backbone whose output stride exceeds the
    tile divisor), it is resized bilinearly along that side instead, an
    approximation.

    Args:
        tiles (Tensor): ``(g * g * B, C, h, w)``, ordered as
            :func:`tile_images` orders them.
        grid (int): Tiles per side ``g``. Defaults to 2.
        size (Sequence[int], optional): ``(H, W)`` of the result. Defaults
            to None (``(g * h, g * w)``).

    Returns:
        Tensor: ``(B, C, H, W)``.
    """
    num = tiles.shape[0]
    if grid < 1 or num % (grid * grid):
        raise ValueError(f'{num} tiles do not make whole {grid}x{grid} '
                         'grids')
    pieces = tiles.split(num // (grid * grid), dim=0)
    rows = [
        torch.cat(pieces[row * grid:(row + 1) * grid], dim=-1)
        for row in range(grid)
    ]
    merged = torch.cat(rows, dim=-2)
    if size is None:
        return merged
    height, width = int(size[0]), int(size[1])
    merged = merged[..., :height, :width]
    if merged.shape[-2:] != (height, width):
        merged = F.interpolate(
            merged, (height, width), mode='bilinear', align_corners=False)
    return merged


def reconstruction_loss(full: Tensor,
                        merged: Tensor,
                        labels: Optional[Tensor] = None,
                        mask: str = 'labels',
                        distance: str = 'l1') -> Tensor:
    """The reconstruction loss ``L_re`` between the maps of the whole image
    and the re-assembled maps of its tiles.

    The paper writes ``L_re = || A^s - A^re ||_1``. The official code
    (``train_classification_with_puzzle.py``) averages instead of summing
    and, with ``--re_loss_option masking`` (the option of the README's
    command), keeps only the maps of the image's classes. With
    ``d(a, b) = |a - b|`` (``'l1'``) or ``(a - b)^2`` (``'l2'``) and
    ``y_bk`` the image labels, the three modes are

    - ``'labels'`` (official ``masking``):
      ``1 / (B K h w) * sum_{b,k,x,y} y_bk d(A_bk, A^re_bk)(x, y)``;
      the maps of absent classes count as zeros in the mean;
    - ``'selection'`` (official ``selection``):
      ``1 / B * sum_b mean_{k: y_bk = 1, x, y} d(A_bk, A^re_bk)(x, y)``;
      a background-only image adds 0 (the official mean over no class is
      NaN);
    - ``'none'``: ``mean_{b,k,x,y} d(A_bk, A^re_bk)(x, y)``, every class
      (the paper's equation, as a mean).

    Args:
        full (Tensor): ``(B, K, h, w)`` maps of the whole images ``A^s``.
        merged (Tensor): ``(B, K, h, w)`` merged maps of the tiles
            ``A^re``.
        labels (Tensor, optional): ``(B, K)`` multi-hot image labels;
            required unless ``mask='none'``.
        mask (str): See above. Defaults to ``'labels'``.
        distance (str): ``'l1'`` or ``'l2'``. Defaults to ``'l1'``.

    Returns:
        Tensor: The scalar loss.
    """
    if full.shape != merged.shape:
        raise ValueError(f'the maps differ in shape: {tuple(full.shape)} vs '
                         f'{tuple(merged.shape)}')
    if distance not in RE_LOSSES:
        raise ValueError(f'distance must be one of {RE_LOSSES}, got '
                         f'{distance!r}')
    if mask not in RE_MASKS:
        raise ValueError(f'mask must be one of {RE_MASKS}, got {mask!r}')
    diff = full - merged
    dist = diff.abs() if distance == 'l1' else diff.pow(2)
    if mask == 'none':
        return dist.mean()
    if labels is None:
        raise ValueError(f"mask={mask!r} needs the image labels")
    weights = labels.to(dist)[:, :, None, None]
    if mask == 'labels':
        return (dist * weights).mean()
    # 'selection': per image, the mean over its classes' maps
    per_class = dist.flatten(2).mean(-1)  # (B, K)
    num = weights[:, :, 0, 0].sum(1)  # (B,)
    per_image = (per_class * weights[:, :, 0, 0]).sum(1) / num.clamp(min=1)
    return per_image.mean()


def alpha_at(iteration: int,
             max_iters: Optional[int],
             alpha: float,
             schedule: float = 0.5) -> float:
    """The weight of the reconstruction loss at an iteration.

    As in the official code: ``alpha_t = min(alpha * t / (T * schedule),
    alpha)`` with ``t`` the 0-based iteration and ``T`` the iterations of
    the whole training, i.e. a linear ramp from 0 that reaches ``alpha``
    at ``schedule * T`` and stays there; ``schedule = 0`` gives the
    constant ``alpha``.

    Args:
        iteration (int): ``t``, 0 for the first iteration.
        max_iters (int, optional): ``T``; None gives ``alpha``.
        alpha (float): The final weight.
        schedule (float): Fraction of training to reach it. Defaults to 0.5.

    Returns:
        float: ``alpha_t``.
    """
    if schedule <= 0 or not max_iters:
        return float(alpha)
    return float(min(alpha * iteration / (max_iters * schedule), alpha))
