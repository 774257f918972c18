# Copyright (c) OpenMMLab. All rights reserved.
"""Spherical k-means segments of SPML/SegSort (parameter-free).

Ke et al., "Universal Weakly Supervised Segmentation by Pixel-to-Segment
Contrastive Learning" (SPML, ICLR 2021, https://arxiv.org/abs/2105.00957),
Sec. 3.2, after Hwang et al., "SegSort" (ICCV 2019). Each image is
partitioned by spherical (von Mises-Fisher) k-means on its unit pixel
embeddings, started from a regular grid; the segments are the intersection
of the k-means clusters with a low-level over-segmentation (and, as the
reference code does, with the semantic label map); a segment's prototype is
the normalised mean embedding of its pixels::

    E-step:  z_i = argmax_s  mu_s^T e_i
    M-step:  mu_s = sum_{i: z_i = s} e_i / || sum_{i: z_i = s} e_i ||

Pixels outside the image (the crop padding, value 255 of the semantic
label map in SPML's encoding) take part in nothing: they get the cluster
and segment id ``-1``.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'grid_cluster_labels', 'append_coordinates', 'spherical_kmeans',
    'intersect_segments', 'segment_prototypes', 'segment_majority_label'
]


def grid_cluster_labels(height: int,
                        width: int,
                        grid: Sequence[int] = (6, 6),
                        device: Optional[torch.device] = None) -> Tensor:
    """Initial k-means labels: a regular ``K_y x K_x`` partition.

    Row ``r`` gets ``y_r = round(linspace(0, K_y - 1, H))[r]``, column
    ``c`` gets ``x_c = round(linspace(0, K_x - 1, W))[c]``, and the pixel
    the label ``y_r + K_y' * x_c`` with ``K_y' = max_r y_r + 1`` (the
    reference code's ``initialize_cluster_labels``; ``K_y' < K_y`` only
    when the image has fewer rows than the grid).

    Args:
        height (int): ``H``.
        width (int): ``W``.
        grid (Sequence[int]): ``(K_y, K_x)``. Defaults to (6, 6) (SPML's
            ``KMEANS_NUM_CLUSTERS=6`` on VOC, i.e. 36 clusters).
        device (torch.device, optional): Defaults to None (CPU).

    Returns:
        Tensor: ``(H, W)`` long labels in ``[0, K_y * K_x)``.
    """
    ky, kx = int(grid[0]), int(grid[1])
    if ky < 1 or kx < 1:
        raise ValueError(f'grid_cluster_labels: grid must be >= 1, got '
                         f'{tuple(grid)}')
    rows = torch.linspace(0, ky - 1, height, device=device).round().long()
    cols = torch.linspace(0, kx - 1, width, device=device).round().long()
    rows_used = int(rows.max()) + 1 if height else 1
    return rows[:, None] + rows_used * cols[None, :]


def append_coordinates(embeddings: Tensor) -> Tensor:
    """``normalize([e; y; x])`` with ``y, x = linspace(0, 1) - 0.5``.

    The embedding that SPML clusters and uses for the image-similarity
    relation (``e_loc``, 66-d for a 64-d embedding). ``e`` is normalised
    first.

    Args:
        embeddings (Tensor): ``(B, D, H, W)``.

    Returns:
        Tensor: ``(B, D + 2, H, W)`` unit vectors.
    """
    b, _, h, w = embeddings.shape
    e = F.normalize(embeddings, dim=1)
    ys = torch.linspace(0, 1, h, device=e.device, dtype=e.dtype) - 0.5
    xs = torch.linspace(0, 1, w, device=e.device, dtype=e.dtype) - 0.5
    loc = torch.stack(torch.meshgrid(ys, xs, indexing='ij'))
    return F.normalize(torch.cat([e, loc.expand(b, 2, h, w)], 1), dim=1)


@torch.no_grad()
def spherical_kmeans(embeddings: Tensor,
                     valid: Optional[Tensor] = None,
                     grid: Sequence[int] = (6, 6),
                     num_iters: int = 10) -> Tensor:
    """Spherical k-means per image, batched, without gradient.

    ``num_iters`` rounds of an M-step (normalised mean of each cluster's
    unit embeddings) followed by an E-step (argmax cosine), started from
    :func:`grid_cluster_labels`. Images are clustered independently (a
    pixel only sees its own image's clusters). Computed in float32 with
    autocast off.

    An empty cluster (no valid pixel at the start, e.g. a grid cell that
    lies in the padding, or emptied by an E-step) never takes a pixel. The
    reference code keeps it as a zero prototype, which wins only where all
    other cosines are negative.

    Args:
        embeddings (Tensor): ``(B, D, H, W)``; normalised here along ``D``.
        valid (Tensor, optional): ``(B, H, W)`` bool, False for the pixels
            that are not part of the image (padding). Defaults to None (all
            valid).
        grid (Sequence[int]): ``(K_y, K_x)`` of the initial partition.
            Defaults to (6, 6) (code, VOC training; 12 x 12 at inference).
        num_iters (int): EM rounds. Defaults to 10 (paper and code).

    Returns:
        Tensor: ``(B, H, W)`` long cluster labels, in
        ``[0, K_y * K_x)`` (not contiguous), ``-1`` for invalid pixels.
    """
    b, d, h, w = embeddings.shape
    n = h * w
    if valid is None:
        valid = torch.ones(b, h, w, dtype=torch.bool,
                           device=embeddings.device)
    if valid.shape != (b, h, w):
        raise ValueError(f'spherical_kmeans: valid must be {(b, h, w)}, got '
                         f'{tuple(valid.shape)}')
    valid = valid.reshape(b, n)
    init = grid_cluster_labels(h, w, grid, embeddings.device).reshape(n)
    k = int(init.max()) + 1 if n else 1
    with torch.autocast(device_type=embeddings.device.type, enabled=False):
        x = F.normalize(embeddings.float().reshape(b, d, n), dim=1)
        x = x.transpose(1, 2)  # (B, N, D)
        labels = init.expand(b, n).clone()
        offsets = torch.arange(b, device=x.device)[:, None] * k
        for _ in range(num_iters):
            flat = (labels + offsets)[valid]
            sums = x.new_zeros(b * k, d).index_add_(0, flat, x[valid])
            counts = torch.bincount(flat, minlength=b * k).reshape(b, k)
            protos = F.normalize(sums.reshape(b, k, d), dim=-1)
            sim = torch.bmm(x, protos.transpose(1, 2))  # (B, N, K)
            sim.masked_fill_((counts == 0)[:, None, :], float('-inf'))
            labels = sim.argmax(-1)
    labels = labels.masked_fill(~valid, -1)
    return labels.reshape(b, h, w)


def intersect_segments(
        *label_maps: Tensor,
        valid: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Segments = the intersection of label maps, per image.

    Two pixels share a segment iff they are in the same image and have the
    same value in every map (e.g. k-means cluster, over-segmentation
    region and, as in the reference code, semantic label). Segment ids are
    contiguous over the batch, ordered by image first (then by the maps'
    values), so they stay unique when images are concatenated.

    Args:
        *label_maps (Tensor): ``(B, H, W)`` integer maps; a negative value
            marks a pixel outside the image.
        valid (Tensor, optional): ``(B, H, W)`` bool; False excludes a pixel
            as well. Defaults to None.

    Returns:
        tuple[Tensor, Tensor]: ``(segment_ids, keys)``: ``(B, H, W)`` long
        segment ids (``-1`` for excluded pixels) and ``(S, 1 + M)`` long
        keys of the ``S`` segments: the image index, then the segment's
        value in each of the ``M`` maps.
    """
    if not label_maps:
        raise ValueError('intersect_segments: give at least one label map')
    shape = label_maps[0].shape
    if any(m.shape != shape for m in label_maps) or len(shape) != 3:
        shapes = [tuple(m.shape) for m in label_maps]
        raise ValueError('intersect_segments: the maps must all be '
                         f'(B, H, W), got {shapes}')
    b = shape[0]
    device = label_maps[0].device
    image = torch.arange(b, device=device)[:, None, None].expand(shape)
    keys = torch.stack([image] + [m.long() for m in label_maps], -1)
    keep = (keys[..., 1:] >= 0).all(-1)
    if valid is not None:
        keep &= valid.bool()
    ids = torch.full(shape, -1, dtype=torch.long, device=device)
    if not keep.any():
        return ids, keys.new_zeros(0, keys.shape[-1])
    seg_keys, inverse = torch.unique(keys[keep], dim=0, return_inverse=True)
    ids[keep] = inverse
    return ids, seg_keys


def segment_prototypes(embeddings: Tensor, segment_ids: Tensor,
                       num_segments: int) -> Tensor:
    """Segment prototypes ``mu_s = normalize(sum_{i in s} e_i)``, with
    gradient (the mean before normalising is the same direction).

    Computed in float32 (autocast off) so that sums of many fp16
    embeddings neither overflow nor lose precision.

    Args:
        embeddings (Tensor): ``(B, D, H, W)`` (normalised here along ``D``,
            as the pixel embeddings of the losses).
        segment_ids (Tensor): ``(B, H, W)`` long, ``-1`` excluded.
        num_segments (int): ``S``.

    Returns:
        Tensor: ``(S, D)`` float32 unit prototypes (a segment without
        pixels gets a zero vector).
    """
    d = embeddings.shape[1]
    with torch.autocast(device_type=embeddings.device.type, enabled=False):
        e = F.normalize(embeddings.float(), dim=1).permute(0, 2, 3, 1)
        keep = segment_ids >= 0
        sums = e.new_zeros(num_segments, d).index_add(0, segment_ids[keep],
                                                      e[keep])
        return F.normalize(sums, dim=1)


def segment_majority_label(segment_ids: Tensor, labels: Tensor,
                           num_segments: int, num_values: int) -> Tensor:
    """The most frequent label of each segment (ties: the smallest).

    Args:
        segment_ids (Tensor): ``(B, H, W)`` long, ``-1`` excluded.
        labels (Tensor): ``(B, H, W)`` integer labels in
            ``[-1, num_values)``; ``-1`` (unlabelled) is a value that takes
            part in the vote like the others.
        num_segments (int): ``S``.
        num_values (int): Number of label values (without ``-1``).

    Returns:
        Tensor: ``(S, )`` long majority labels (``-1`` where the unlabelled
        pixels are the most frequent, or for a segment without pixels).
    """
    keep = segment_ids >= 0
    lab = labels[keep].long()
    if lab.numel() and (lab.min() < -1 or lab.max() >= num_values):
        raise ValueError(f'segment_majority_label: labels must be in '
                         f'[-1, {num_values}), got [{int(lab.min())}, '
                         f'{int(lab.max())}]')
    width = num_values + 1
    counts = torch.bincount(segment_ids[keep] * width + lab + 1,
                            minlength=num_segments * width)
    return counts.reshape(num_segments, width).argmax(1) - 1
