# Copyright (c) OpenMMLab. All rights reserved.
"""Pair paths and path-max affinities of IRN's boundary branch.

IRN (Ahn, Cho & Kwak, "Weakly Supervised Learning of Instance Segmentation
with Inter-pixel Relations", CVPR 2019, https://arxiv.org/abs/1904.05044)
predicts a class boundary map ``B`` in ``[0, 1]`` (the sigmoid of the
boundary logits, stride 4) and derives the semantic affinity of two
positions ``i, j`` closer than a radius from the strongest boundary on the
way between them (Eq. 4 of the paper)::

    a_ij = 1 - max_{k in Pi_ij} B_k

where ``Pi_ij`` is the set of grid points on the segment from ``i`` to
``j``. As in the official code (``misc/indexing.py``), the path of a
displacement ``d = (dy, dx)`` is a band about two cells wide: every integer
point ``p = (y, x)`` of the bounding box of ``0 -> d`` whose distance to the
line through ``0`` and ``d`` is below one cell::

    (dy * x - dx * y)^2 / (dy^2 + dx^2) < 1

(both ends included; ``(1, 1)`` gives four points, ``(2, 2)`` seven).

The pairs are those of AffinityNet (:func:`~mmwsss.models.utils.
affinity_pairs`: the half-disc of displacements of
:func:`~mmwsss.models.utils.pair_displacements`, both ends inside the
grid), so the affinities feed :func:`~mmwsss.models.utils.random_walk`
directly. Paths are grouped by their number of points so that the max is
one gather per group (:class:`PairPathIndex`).

Note on borders: IRN's inference pads ``B`` with 1 (left, right and bottom
by the radius) and keeps every pair of the padded grid, so a pair with an
end outside the image gets ``a = 0``, i.e. ``a^beta = 0``: no edge in the
transition matrix, exactly as if it were dropped. A pair with both ends
inside the image has its whole path inside (the path lies in the bounding
box of its ends, and the grid is a rectangle), so its affinity never reads
the padding. Keeping only in-grid pairs is therefore the same walk.
"""
from typing import List, NamedTuple, Optional, Tuple, Union

import torch
from torch import Tensor

from .random_walk import affinity_pairs, pair_displacements

__all__ = [
    'pair_path', 'pair_paths', 'PairPathIndex', 'pair_path_index',
    'path_max_affinity'
]


def pair_path(dy: int, dx: int) -> List[Tuple[int, int]]:
    """The path points of a displacement (IRN's two-cell band).

    Args:
        dy (int): Row displacement.
        dx (int): Column displacement; ``(dy, dx) != (0, 0)``.

    Returns:
        list[tuple[int, int]]: Points ``(y, x)`` of the bounding box of
        ``(0, 0) -> (dy, dx)`` with ``(dy x - dx y)^2 < dy^2 + dx^2``, in
        row-major order; the first end ``(0, 0)`` and the last
        ``(dy, dx)`` are always included.
    """
    dy, dx = int(dy), int(dx)
    norm2 = dy * dy + dx * dx
    if norm2 == 0:
        raise ValueError('a path needs a non-zero displacement')
    points = []
    for y in range(min(0, dy), max(0, dy) + 1):
        for x in range(min(0, dx), max(0, dx) + 1):
            cross = dy * x - dx * y
            if cross * cross < norm2:
                points.append((y, x))
    return points


def pair_paths(radius: int) -> List[List[Tuple[int, int]]]:
    """The path of every displacement of :func:`pair_displacements`.

    Args:
        radius (int): Pair radius (IRN: 10 in training, 5 at inference).

    Returns:
        list[list[tuple[int, int]]]: One path per displacement, in the order
        of :func:`pair_displacements`.
    """
    return [pair_path(dy, dx) for dy, dx in pair_displacements(radius)]


class PairPathIndex(NamedTuple):
    """The pairs of a grid and their paths, grouped by path length.

    Attributes:
        ind_from (Tensor): ``(E,)`` int64 "from" indices, as
            :func:`affinity_pairs`.
        ind_to (Tensor): ``(E,)`` int64 "to" indices.
        groups (list[Tensor]): One ``(E_g, k_g)`` int64 tensor per path
            length ``k_g``: the flat grid indices of the path points of the
            pairs of that length.
        order (Tensor): ``(E,)`` int64: pair ``e`` is column ``order[e]`` of
            the concatenation of the groups.
        size (tuple[int, int]): The grid ``(h, w)``.
    """
    ind_from: Tensor
    ind_to: Tensor
    groups: List[Tensor]
    order: Tensor
    size: Tuple[int, int]


def pair_path_index(
        radius: int,
        height: int,
        width: int,
        device: Optional[Union[str, torch.device]] = None) -> PairPathIndex:
    """All pairs within ``radius`` on a ``height x width`` grid, with paths.

    Args:
        radius (int): Pair radius.
        height (int): Grid height.
        width (int): Grid width.
        device (str | torch.device, optional): Device of the tensors.

    Returns:
        PairPathIndex: The pairs (in :func:`affinity_pairs` order) and the
        grid indices of their path points, grouped by path length.
    """
    height, width = int(height), int(width)
    ind_from, ind_to = affinity_pairs(radius, height, width, device=device)
    by_len = {}
    start = 0
    for (dy, dx), path in zip(
            pair_displacements(radius), pair_paths(radius)):
        count = max(height - dy, 0) * max(width - abs(dx), 0)
        src = ind_from[start:start + count]
        offsets = torch.tensor([y * width + x for y, x in path],
                               dtype=torch.int64,
                               device=ind_from.device)
        pos = torch.arange(
            start, start + count, dtype=torch.int64, device=ind_from.device)
        by_len.setdefault(len(path), []).append((pos, src[:, None] + offsets))
        start += count
    assert start == len(ind_from)
    groups, positions = [], []
    for k in sorted(by_len):
        positions.append(torch.cat([p for p, _ in by_len[k]]))
        groups.append(torch.cat([g for _, g in by_len[k]]))
    if positions:
        order = torch.empty_like(ind_from)
        order[torch.cat(positions)] = torch.arange(
            len(ind_from), device=ind_from.device)
    else:
        order = ind_from.clone()
    return PairPathIndex(ind_from, ind_to, groups, order, (height, width))


def path_max_affinity(boundary: Tensor, index: PairPathIndex) -> Tensor:
    """``a_ij = 1 - max_{k in path(i, j)} B_k`` for every pair of ``index``.

    Args:
        boundary (Tensor): Boundary probabilities ``B``, ``(N, h, w)`` or
            ``(N, 1, h, w)`` on the grid of ``index``.
        index (PairPathIndex): From :func:`pair_path_index`.

    Returns:
        Tensor: ``(N, E)`` affinities, differentiable in ``boundary`` (the
        gradient of each max goes to one of its maximal points).
    """
    if boundary.dim() == 4:
        if boundary.shape[1] != 1:
            raise ValueError('boundary must have one channel, got shape '
                             f'{tuple(boundary.shape)}')
        boundary = boundary[:, 0]
    if boundary.dim() != 3 or tuple(boundary.shape[-2:]) != tuple(
            index.size):
        raise ValueError(f'boundary of shape {tuple(boundary.shape)} does '
                         f'not match the index grid {index.size}')
    flat = boundary.flatten(1)
    if not index.groups:
        return flat.new_zeros((flat.shape[0], 0))
    peaks = [flat[:, g].max(dim=-1).values for g in index.groups]
    return 1 - torch.cat(peaks, dim=1)[:, index.order]
