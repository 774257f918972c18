# Copyright (c) OpenMMLab. All rights reserved.
"""AffinityNet pair indexing and the random walk that propagates CAMs.

AffinityNet (PSA, Ahn & Kwak, "Learning Pixel-level Semantic Affinity with
Image-level Supervision for Weakly Supervised Semantic Segmentation",
CVPR 2018, https://arxiv.org/abs/1803.10464) predicts a semantic affinity
``a_ij`` in ``(0, 1]`` for every pair of feature-map positions ``i, j``
closer than a radius ``r`` (``|p_i - p_j| < r``, ``r = 5`` on the stride-8
grid). Class scores (background included) are then diffused over this
graph by a random walk (Sec. 3.3 of the paper, ``infer_aff.py`` in the
official code):

- affinity matrix ``A_ij = a_ij^beta`` for the predicted pairs, symmetric,
  with self loops ``A_ii = 1`` (``1^beta = 1``) and zero elsewhere;
- degree ``D = diag(d)`` with ``d_j = sum_i A_ij``;
- transition matrix ``T = A D^-1`` (``T_ij = A_ij / d_j``: every column
  sums to one);
- propagated scores ``X_t = X_0 T^t`` where ``X_0`` is the ``(C, N)``
  matrix of class scores, one column per position.

Defaults follow ``infer_aff.py`` of the official code: ``beta = 8`` and
``logt = 8``, i.e. ``t = 2^8 = 256`` steps.

The official code forms the dense ``N x N`` transition matrix and computes
``T^256`` by eight dense squarings. :func:`random_walk` instead keeps ``T``
sparse (about ``2 E + N`` non-zeros for ``E`` pairs) and applies it ``t``
times to the ``C`` score vectors, so memory grows as ``O(N)`` instead of
``O(N^2)`` and time as ``O(t * nnz * C)`` instead of ``O(log2(t) * N^3)``.
:func:`dense_random_walk` is the straightforward dense reference, kept for
tests and benchmarks only.

Invariants (useful to check an implementation): ``T`` is column-stochastic
(``1^T T = 1^T``), so a constant score row is a fixed point and every
entry of ``X_{t+1}`` is a convex combination of entries of ``X_t``; the
plain per-class sum ``X_t 1`` is *not* conserved, but since ``A`` is
symmetric ``T d = A 1 = d``, so the degree-weighted sum ``X_t d`` is.
"""
import warnings
from typing import List, Optional, Tuple, Union

import torch
from torch import Tensor

__all__ = [
    'pair_displacements', 'affinity_pairs', 'random_walk',
    'dense_random_walk'
]


def pair_displacements(radius: int) -> List[Tuple[int, int]]:
    """Displacements ``(dy, dx)`` of the AffinityNet pairs.

    Every unordered pair of grid positions closer than ``radius`` is
    represented once, by the displacement from its "from" position to its
    "to" position, which lies on the same row to the right or on a row
    below: ``(0, dx)`` for ``dx = 1 .. r - 1``, then ``(dy, dx)`` for
    ``dy = 1 .. r - 1`` and ``dx = -(r - 1) .. r - 1`` with
    ``dx^2 + dy^2 < r^2``, in this order (the order of PSA's
    ``get_indices_of_pairs`` in ``tool/pyutils.py``). ``radius = 5`` gives
    34 displacements.

    Args:
        radius (int): Pair radius ``r >= 1`` in grid cells; pairs satisfy
            ``dx^2 + dy^2 < r^2``. ``radius = 1`` gives no pairs.

    Returns:
        list[tuple[int, int]]: The displacements ``(dy, dx)``.
    """
    radius = _check_radius(radius)
    disps = [(0, dx) for dx in range(1, radius)]
    for dy in range(1, radius):
        for dx in range(-radius + 1, radius):
            if dx * dx + dy * dy < radius * radius:
                disps.append((dy, dx))
    return disps


def affinity_pairs(
        radius: int,
        height: int,
        width: int,
        device: Optional[Union[str, torch.device]] = None
) -> Tuple[Tensor, Tensor]:
    """Flat indices of all AffinityNet pairs on a ``height x width`` grid.

    Positions are numbered row-major, ``i = y * width + x``. For every
    displacement of :func:`pair_displacements` (in that order) the pairs
    ``(y, x) -> (y + dy, x + dx)`` whose both ends lie inside the grid are
    listed by increasing "from" index; pairs whose "to" position falls
    outside the grid are omitted.

    Note:
        PSA's ``get_indices_of_pairs`` (``tool/pyutils.py``) only uses
        "from" positions in a cropped region (rows ``0 .. h - r``, columns
        ``r - 1 .. w - r``) whose every neighbour stays inside the grid, and
        returns each of them once with ``D`` "to" lists. Pairs whose "from"
        position lies in the bottom ``r - 1`` rows or in the left or right
        ``r - 1`` columns (e.g. two horizontally adjacent border positions)
        are therefore missing there. This function keeps every valid
        in-grid pair instead, so ``ind_from`` repeats positions and has the
        same length as ``ind_to``.

    Args:
        radius (int): Pair radius ``r >= 1`` (5 in PSA).
        height (int): Grid height ``h >= 0``.
        width (int): Grid width ``w >= 0``.
        device (str | torch.device, optional): Device of the returned
            tensors. Defaults to None (the CPU).

    Returns:
        tuple[Tensor, Tensor]: ``(ind_from, ind_to)``, two int64 tensors of
        shape ``(E, )``.
    """
    disps = pair_displacements(radius)
    height, width = int(height), int(width)
    if height < 0 or width < 0:
        raise ValueError(
            f'grid size must be non-negative, got {height} x {width}')
    froms, tos = [], []
    for dy, dx in disps:
        x_lo, x_hi = max(0, -dx), width - max(0, dx)
        ys = torch.arange(0, max(height - dy, 0), device=device)
        xs = torch.arange(x_lo, max(x_hi, x_lo), device=device)
        ind = (ys[:, None] * width + xs[None, :]).reshape(-1)
        froms.append(ind)
        tos.append(ind + (dy * width + dx))
    if not froms:
        empty = torch.zeros(0, dtype=torch.int64, device=device)
        return empty, empty.clone()
    return (torch.cat(froms).to(torch.int64), torch.cat(tos).to(torch.int64))


def random_walk(scores: Tensor,
                ind_from: Tensor,
                ind_to: Tensor,
                affinity: Tensor,
                beta: float = 8.0,
                num_iters: int = 256,
                add_self_loops: bool = True) -> Tensor:
    """Propagate class scores by PSA's random walk, with a sparse ``T``.

    Computes ``X_t = X_0 T^t`` with ``T = A D^-1`` (see the module
    docstring) without ever forming an ``N x N`` dense matrix: the
    transition matrix is built once as a sparse CSR matrix (transposed,
    ``T^T = D^-1 A^T``, so that the product is a sparse-times-dense
    ``(N, N) x (N, C)`` product) and applied ``num_iters`` times. Memory is
    ``O(nnz + N * C)``; time is ``O(num_iters * nnz * C)``.

    Computation is in the dtype of ``scores`` when it is float32 or
    float64, and in float32 for other floating dtypes (the result is cast
    back). Each step is a convex combination of the previous scores, so
    float32 rounding errors add up at most linearly with ``num_iters``
    (below 1e-6 absolute for scores in ``[0, 1]`` at ``t = 256`` and
    ``N = 11750`` in ``benchmarks/random_walk_benchmark.py``).

    Duplicate pairs are summed. A position whose column of ``A`` is zero
    (only possible with ``add_self_loops=False``) has a zero column in
    ``T``: its own score is dropped at the first step.

    On the CPU each of the ``num_iters`` products is a short parallel
    kernel; on small grids or a loaded machine, thread synchronisation can
    dominate and fewer threads (:func:`torch.set_num_threads`) run faster.

    Args:
        scores (Tensor): Scores ``X_0``, shape ``(C, H, W)`` or ``(C, N)``
            with ``N = H * W`` positions (PSA: the 21 VOC class scores,
            background included, average-pooled to the feature grid).
        ind_from (Tensor): int64 "from" indices of the ``E`` pairs, shape
            ``(E, )``, e.g. from :func:`affinity_pairs`.
        ind_to (Tensor): int64 "to" indices, shape ``(E, )``.
        affinity (Tensor): Affinities ``a_ij >= 0`` of the pairs, shape
            ``(E, )`` (in ``(0, 1]`` for AffinityNet).
        beta (float): Exponent ``A_ij = a_ij^beta`` that sharpens the
            affinities. Defaults to 8.0 (``--beta`` of PSA ``infer_aff.py``).
        num_iters (int): Number of steps ``t >= 0``; 0 returns a copy of
            ``scores``. Defaults to 256 (``2^logt`` with ``--logt 8`` of
            PSA ``infer_aff.py``).
        add_self_loops (bool): Whether to set ``A_ii = 1`` as PSA does.
            Defaults to True.

    Returns:
        Tensor: ``X_t``, with the shape and dtype of ``scores``.
    """
    x0, num_nodes, ind_from, ind_to, affinity, num_iters = _check_inputs(
        scores, ind_from, ind_to, affinity, num_iters)
    if num_iters == 0:
        return scores.clone()
    dtype = _compute_dtype(scores)
    rows, cols, vals = _affinity_entries(num_nodes, ind_from, ind_to,
                                         affinity.to(dtype), beta,
                                         add_self_loops)
    deg = torch.zeros(num_nodes, dtype=dtype, device=scores.device)
    deg.index_add_(0, cols, vals)
    inv_deg = torch.where(deg > 0, 1.0 / deg, torch.zeros_like(deg))
    # T^T[j, i] = A[i, j] / d[j]
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Sparse CSR tensor')
        trans_t = torch.sparse_coo_tensor(
            torch.stack([cols, rows]),
            vals * inv_deg[cols], (num_nodes, num_nodes),
            check_invariants=False).coalesce().to_sparse_csr()
        if trans_t.values().numel() < 2**31 - 1:
            # int32 indices: the MKL/cuSPARSE kernels would otherwise
            # convert the int64 ones at every product
            trans_t = torch.sparse_csr_tensor(
                trans_t.crow_indices().int(),
                trans_t.col_indices().int(),
                trans_t.values(), (num_nodes, num_nodes),
                check_invariants=False)
    z = x0.to(dtype).t().contiguous()  # (N, C)
    for _ in range(num_iters):
        z = trans_t @ z  # (X T)^T = T^T X^T
    return z.t().reshape(scores.shape).to(scores.dtype)


def dense_random_walk(scores: Tensor,
                      ind_from: Tensor,
                      ind_to: Tensor,
                      affinity: Tensor,
                      beta: float = 8.0,
                      num_iters: int = 256,
                      add_self_loops: bool = True) -> Tensor:
    """Dense reference of :func:`random_walk`, for tests and benchmarks only.

    Forms the dense ``N x N`` matrices ``A`` and ``T = A D^-1`` as PSA's
    ``infer_aff.py`` does and computes ``X_0 T^t``, with ``log2(t)`` dense
    squarings when ``t`` is a power of two (PSA) and
    :func:`torch.linalg.matrix_power` otherwise. It needs several ``N^2``
    matrices of memory and ``O(log2(t) * N^3)`` time (about 26 TFLOP at
    ``N = 11750`` and ``t = 256``); do not use it in pipelines.

    Args:
        scores (Tensor): Scores, shape ``(C, H, W)`` or ``(C, N)``.
        ind_from (Tensor): int64 "from" indices, shape ``(E, )``.
        ind_to (Tensor): int64 "to" indices, shape ``(E, )``.
        affinity (Tensor): Affinities ``a_ij >= 0``, shape ``(E, )``.
        beta (float): Affinity exponent. Defaults to 8.0.
        num_iters (int): Number of steps ``t >= 0``. Defaults to 256.
        add_self_loops (bool): Whether to set ``A_ii = 1``. Defaults to
            True.

    Returns:
        Tensor: ``X_0 T^t``, with the shape and dtype of ``scores``.
    """
    x0, num_nodes, ind_from, ind_to, affinity, num_iters = _check_inputs(
        scores, ind_from, ind_to, affinity, num_iters)
    if num_iters == 0:
        return scores.clone()
    dtype = _compute_dtype(scores)
    rows, cols, vals = _affinity_entries(num_nodes, ind_from, ind_to,
                                         affinity.to(dtype), beta,
                                         add_self_loops)
    trans = torch.zeros((num_nodes, num_nodes),
                        dtype=dtype,
                        device=scores.device)
    trans.index_put_((rows, cols), vals, accumulate=True)
    deg = trans.sum(0, keepdim=True)
    # zero columns stay zero; in place to hold one N x N matrix, not three
    trans.div_(torch.where(deg > 0, deg, torch.ones_like(deg)))
    if num_iters & (num_iters - 1) == 0:
        for _ in range(num_iters.bit_length() - 1):
            trans = trans @ trans
    else:
        trans = torch.linalg.matrix_power(trans, num_iters)
    out = x0.to(dtype) @ trans
    return out.reshape(scores.shape).to(scores.dtype)


def _check_radius(radius: int) -> int:
    if int(radius) != radius or radius < 1:
        raise ValueError(f'radius must be an integer >= 1, got {radius}')
    return int(radius)


def _compute_dtype(scores: Tensor) -> torch.dtype:
    if scores.dtype in (torch.float32, torch.float64):
        return scores.dtype
    return torch.float32


def _check_inputs(scores: Tensor, ind_from: Tensor, ind_to: Tensor,
                  affinity: Tensor, num_iters: int):
    """Validate the random-walk inputs; return ``(C, N)`` scores etc."""
    if not torch.is_tensor(scores) or not scores.is_floating_point():
        raise TypeError('scores must be a floating point tensor, got '
                        f'{getattr(scores, "dtype", type(scores))}')
    if scores.dim() not in (2, 3):
        raise ValueError('scores must have shape (C, H, W) or (C, N), got '
                         f'{tuple(scores.shape)}')
    if int(num_iters) != num_iters or num_iters < 0:
        raise ValueError(
            f'num_iters must be a non-negative integer, got {num_iters}')
    num_iters = int(num_iters)
    x0 = scores.reshape(scores.shape[0], -1)
    num_nodes = x0.shape[1]
    for name, t in (('ind_from', ind_from), ('ind_to', ind_to),
                    ('affinity', affinity)):
        if not torch.is_tensor(t) or t.dim() != 1:
            raise ValueError(f'{name} must be a 1-D tensor, got shape '
                             f'{tuple(getattr(t, "shape", ()))}')
    if ind_from.dtype.is_floating_point or ind_to.dtype.is_floating_point:
        raise TypeError('ind_from and ind_to must be integer tensors, got '
                        f'{ind_from.dtype} and {ind_to.dtype}')
    if len(ind_to) != len(ind_from):
        raise ValueError(f'ind_from has {len(ind_from)} entries but ind_to '
                         f'has {len(ind_to)}')
    if len(affinity) != len(ind_from):
        raise ValueError(f'affinity has {len(affinity)} entries but there '
                         f'are {len(ind_from)} pairs (len(ind_from))')
    device = scores.device
    ind_from = ind_from.to(device=device, dtype=torch.int64)
    ind_to = ind_to.to(device=device, dtype=torch.int64)
    affinity = affinity.to(device=device)
    if len(ind_from):
        lo = int(torch.minimum(ind_from.min(), ind_to.min()))
        hi = int(torch.maximum(ind_from.max(), ind_to.max()))
        if lo < 0 or hi >= num_nodes:
            raise ValueError(f'pair indices must lie in [0, {num_nodes}) '
                             f'for scores of shape {tuple(scores.shape)}, '
                             f'got [{lo}, {hi}]')
        if not bool(torch.isfinite(affinity).all()) or bool(
                (affinity < 0).any()):
            raise ValueError('affinity must be finite and non-negative')
    return x0, num_nodes, ind_from, ind_to, affinity, num_iters


def _affinity_entries(num_nodes: int, ind_from: Tensor, ind_to: Tensor,
                      affinity: Tensor, beta: float,
                      add_self_loops: bool) -> Tuple[Tensor, Tensor, Tensor]:
    """COO entries ``(rows, cols, vals)`` of the symmetric ``A``."""
    weight = affinity.pow(beta)
    rows = [ind_from, ind_to]
    cols = [ind_to, ind_from]
    vals = [weight, weight]
    if add_self_loops:
        diag = torch.arange(num_nodes, device=ind_from.device)
        rows.append(diag)
        cols.append(diag)
        vals.append(torch.ones_like(diag, dtype=weight.dtype))
    return torch.cat(rows), torch.cat(cols), torch.cat(vals)
