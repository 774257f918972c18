# Copyright (c) OpenMMLab. All rights reserved.
"""The class-boundary branch of IRN."""
from typing import Dict, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.models.losses.affinity_loss import affinity_pair_labels
from mmwsss.models.utils.path_index import (PairPathIndex, pair_path_index,
                                            path_max_affinity)
from mmwsss.utils.typing_utils import ConfigType, OptMultiConfig, SampleList

__all__ = ['IRNBoundaryHead', 'nearest_label']


def nearest_label(label: Tensor, size: Tuple[int, int]) -> Tensor:
    """Nearest-neighbour reduction of ``(N, H, W)`` labels to ``size``.

    Each output cell takes the label at its centre (``'nearest-exact'``:
    input pixel ``floor((i + 0.5) * H / h)``), as PIL's nearest resize that
    IRN applies to its labels (``pil_rescale(label, 0.25, 0)``); never an
    average, which would mix classes.

    Args:
        label (Tensor): ``(N, H, W)`` integer labels.
        size (tuple[int, int]): ``(h, w)``.

    Returns:
        Tensor: ``(N, h, w)`` int64 labels.
    """
    if tuple(label.shape[-2:]) == tuple(size):
        return label.long()
    small = F.interpolate(
        label[:, None].float(), size=tuple(size), mode='nearest-exact')
    return small[:, 0].long()


@MODELS.register_module()
class IRNBoundaryHead(BaseModule):
    """Class-boundary branch of `IRN <https://arxiv.org/abs/1904.05044>`_
    (Ahn, Cho & Kwak, CVPR 2019), the semantic part only.

    Five backbone taps (ResNet: the stem after its max pool and the four
    residual stages, see :class:`~mmwsss.models.IRNet`) are each reduced by
    a 1x1 convolution without bias to ``channels`` (32), ``GroupNorm(4,
    32)``, resized bilinearly to the stride-4 grid (the largest tap) and
    rectified; the concatenation (160 channels) goes through a 1x1
    convolution with bias to one channel, the boundary logits ``z``. The
    boundary map is ``B = sigmoid(z)`` and the affinity of two cells
    closer than ``radius`` is the path max of Eq. 4 of the paper
    (:func:`~mmwsss.models.utils.path_max_affinity`)::

        a_ij = 1 - max_{k in path(i, j)} B_k

    Training labels are the confident masks of any method
    (``gt_sem_seg``, uncertain pixels ``ignore_index``), reduced to the
    stride-4 grid by nearest neighbour (:func:`nearest_label`); a pair is
    used when both labels lie in ``[0, num_classes)``, and the loss is
    IRN's, i.e. :class:`~mmwsss.models.AffinityLoss` (see there)::

        L = (L+ + L-) / 2,  L+ = (L_bg + L_fg) / 2

    IRN's displacement branch (instances) is left out: with a frozen
    backbone and per-sample GroupNorm it does not change the boundary
    training.

    Args:
        in_channels (Sequence[int]): Channels of the taps, e.g. (64, 256,
            512, 1024, 2048) for ResNet-50.
        num_classes (int): Segmentation classes including background.
        channels (int): Channels of each reduced tap. Defaults to 32 (IRN).
        num_groups (int): GroupNorm groups. Defaults to 4 (IRN).
        in_index (Sequence[int]): The taps used. Defaults to
            (0, 1, 2, 3, 4).
        radius (int): Pair radius of training, in stride-4 cells. Defaults
            to 10 (IRN ``train_irn.py``).
        ignore_index (int): Uncertain label. Defaults to 255.
        loss_aff (dict): Defaults to ``dict(type='AffinityLoss')``.
        init_cfg (dict | list, optional): Defaults to None (PyTorch's
            default initialisation, as IRN).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 num_classes: int,
                 channels: int = 32,
                 num_groups: int = 4,
                 in_index: Sequence[int] = (0, 1, 2, 3, 4),
                 radius: int = 10,
                 ignore_index: int = 255,
                 loss_aff: ConfigType = dict(type='AffinityLoss'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != len(in_index):
            raise ValueError(
                'IRNBoundaryHead: in_channels and in_index must have the '
                f'same length, got {list(in_channels)} and {list(in_index)}')
        self.in_channels = list(in_channels)
        self.in_index = list(in_index)
        self.num_classes = int(num_classes)
        self.radius = int(radius)
        self.ignore_index = int(ignore_index)
        self.taps = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c, channels, 1, bias=False),
                nn.GroupNorm(num_groups, channels)) for c in in_channels)
        self.fuse = nn.Conv2d(channels * len(in_channels), 1, 1, bias=True)
        self.loss_aff = MODELS.build(loss_aff) \
            if isinstance(loss_aff, dict) else loss_aff
        self._index_cache: Dict[tuple, PairPathIndex] = {}

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Boundary logits ``(N, 1, h, w)`` on the grid of the largest
        tap."""
        levels = [feats[i] for i in self.in_index]
        size = max((x.shape[-2:] for x in levels), key=lambda s: s[0] * s[1])
        reduced = []
        for tap, x in zip(self.taps, levels):
            y = tap(x)
            if y.shape[-2:] != size:
                y = F.interpolate(
                    y, size, mode='bilinear', align_corners=False)
            reduced.append(torch.relu(y))
        return self.fuse(torch.cat(reduced, dim=1))

    def path_index(self, size: Tuple[int, int], radius: int,
                   device: torch.device) -> PairPathIndex:
        """The (cached) :func:`pair_path_index` of a grid."""
        key = (int(radius), int(size[0]), int(size[1]), str(device))
        if key not in self._index_cache:
            if len(self._index_cache) > 8:
                self._index_cache.clear()
            self._index_cache[key] = pair_path_index(
                radius, size[0], size[1], device=device)
        return self._index_cache[key]

    def loss(self, feats: Sequence[Tensor],
             data_samples: SampleList) -> Dict[str, Tensor]:
        """IRN's affinity loss on the path-max affinities of the batch."""
        logits = self.forward(feats)
        size = tuple(logits.shape[-2:])
        index = self.path_index(size, self.radius, logits.device)
        aff = path_max_affinity(torch.sigmoid(logits), index)
        label = torch.stack(
            [ds.gt_sem_seg.data[0] for ds in data_samples]).to(aff.device)
        small = nearest_label(label, size).flatten(1)
        bg_pos, fg_pos, neg = affinity_pair_labels(
            small[:, index.ind_from], small[:, index.ind_to],
            self.ignore_index, self.num_classes)
        losses = self.loss_aff(aff, bg_pos, fg_pos, neg)
        with torch.no_grad():
            losses['pairs_bg'] = bg_pos.sum()
            losses['pairs_fg'] = fg_pos.sum()
            losses['pairs_neg'] = neg.sum()
        return losses
