# Copyright (c) OpenMMLab. All rights reserved.
"""Nearest-prototype labelling of segments (SegSort / SPML inference).

SPML's tag route (Ke et al., ICLR 2021, appendix A.3; the code's
``pyscripts/inference/prototype*.py`` and ``models/predictions/segsort.py``,
following SegSort, Hwang et al., ICCV 2019) labels each image across the
training set: every training image is cut into segments by spherical
k-means of its embedding (a ``12 x 12`` start), each segment becomes a
prototype ``mu = normalize(sum_i e_i)`` labelled by the majority of its
pixels' pseudo labels, and a segment of the image to label takes the label
histogram of its ``k = 20`` most cosine-similar prototypes::

    p_s(c) = |{n in top-k_cos(mu_s, bank) : label(n) = c}| / k

These functions are the pieces; :class:`~mmwsss.models.SPMLSegmentor` fits
the bank (``fit_state``) and labels with it (``test_cfg.seed =
'prototypes'``). Nothing in mmseg, mmpretrain (its retrievers compare whole
images) or scikit-learn (no cosine top-k over segments of a batch on the
model's device) does this, hence our own.
"""
import copy
from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from .spherical_kmeans import (append_coordinates, segment_majority_label,
                               segment_prototypes, spherical_kmeans)

__all__ = [
    'image_segments', 'labelled_segment_prototypes', 'neighbour_histograms',
    'build_fit_dataloader'
]

_SAMPLERS = ('DefaultSampler', 'mmengine.DefaultSampler')


@torch.no_grad()
def image_segments(embedding: Tensor,
                   grid: Sequence[int] = (12, 12),
                   num_iters: int = 10,
                   use_location: bool = True) -> Tuple[Tensor, int]:
    """Segments of one image by spherical k-means of its embedding.

    Args:
        embedding (Tensor): ``(D, h, w)`` embeddings of the image (only the
            cells that cover it, no padding).
        grid (Sequence[int]): ``(K_y, K_x)`` start partition. Defaults to
            (12, 12) (the code's inference).
        num_iters (int): k-means rounds. Defaults to 10.
        use_location (bool): Cluster ``[e; y; x]`` as the loss does.
            Defaults to True.

    Returns:
        tuple[Tensor, int]: ``(h, w)`` long segment ids in ``[0, S)`` and
        ``S = K_y * K_x`` (some ids may be unused).
    """
    e = embedding[None].float()
    if use_location:
        e = append_coordinates(e)
    seg = spherical_kmeans(e, None, tuple(grid), num_iters)[0]
    return seg, int(grid[0]) * int(grid[1])


@torch.no_grad()
def labelled_segment_prototypes(embedding: Tensor, segments: Tensor,
                                num_segments: int, labels: Tensor,
                                num_classes: int) -> Tuple[Tensor, Tensor]:
    """The prototypes of an image's segments and their majority labels.

    Args:
        embedding (Tensor): ``(D, h, w)``.
        segments (Tensor): ``(h, w)`` ids in ``[0, S)``.
        num_segments (int): ``S``.
        labels (Tensor): ``(h, w)`` pseudo labels in ``[0, num_classes)``;
            any other value (255) is unlabelled and votes for "none".
        num_classes (int): Classes including background.

    Returns:
        tuple[Tensor, Tensor]: ``(P, D)`` unit prototypes and ``(P, )``
        labels of the segments that have pixels and whose majority is a
        class (segments where unlabelled pixels win are left out).
    """
    labels = labels.long().clone()
    labels[(labels < 0) | (labels >= num_classes)] = -1
    seg = segments[None].long()
    protos = segment_prototypes(embedding[None], seg, num_segments)
    major = segment_majority_label(seg, labels[None], num_segments,
                                   num_classes)
    size = torch.bincount(seg.flatten(), minlength=num_segments)
    keep = (major >= 0) & (size > 0)
    return protos[keep], major[keep]


@torch.no_grad()
def neighbour_histograms(prototypes: Tensor, bank: Tensor,
                         bank_labels: Tensor, num_classes: int,
                         num_neighbors: int = 20) -> Tensor:
    """Label histograms of the ``k`` nearest bank prototypes (cosine).

    Args:
        prototypes (Tensor): ``(S, D)`` unit query prototypes.
        bank (Tensor): ``(N, D)`` unit prototypes of the training set.
        bank_labels (Tensor): ``(N, )`` their labels in
            ``[0, num_classes)``.
        num_classes (int): ``C``.
        num_neighbors (int): ``k`` (at most ``N`` are used). Defaults to 20
            (code).

    Returns:
        Tensor: ``(S, C)`` float histograms, rows summing to 1 (ties in
        cosine are broken by ``torch.topk``).
    """
    if bank.shape[0] == 0:
        raise ValueError('neighbour_histograms: the prototype bank is empty')
    k = min(int(num_neighbors), bank.shape[0])
    sim = prototypes.float() @ bank.float().t()
    idx = sim.topk(k, dim=1).indices
    votes = F.one_hot(bank_labels.long()[idx], num_classes).float()
    return votes.mean(1)


def build_fit_dataloader(loader: Union[dict, DataLoader]) -> DataLoader:
    """A dataloader for fitting model state (class patterns, prototype
    banks): a config is built with ``Runner.build_dataloader``; a
    ``DefaultSampler`` (the default, unshuffled) does not round up, so every
    image is seen exactly once over the processes."""
    if isinstance(loader, DataLoader):
        return loader
    from mmengine.runner import Runner
    cfg = copy.deepcopy(dict(loader))
    sampler = dict(
        cfg.get('sampler') or dict(type='DefaultSampler', shuffle=False))
    if sampler.get('type') in _SAMPLERS:
        sampler['round_up'] = False
    cfg['sampler'] = sampler
    return Runner.build_dataloader(cfg)
