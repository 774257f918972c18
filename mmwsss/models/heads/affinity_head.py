# Copyright (c) OpenMMLab. All rights reserved.
"""The embedding head of AffinityNet."""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.models.losses.affinity_loss import affinity_pair_labels
from mmwsss.models.utils.random_walk import affinity_pairs
from mmwsss.utils.typing_utils import ConfigType, OptMultiConfig, SampleList

__all__ = ['AffinityHead', 'downsample_label']


def downsample_label(label: Tensor,
                     size: Tuple[int, int],
                     num_classes: int,
                     ignore_index: int = 255,
                     min_purity: float = 0.5) -> Tensor:
    """Reduce a label map to the feature grid by majority vote.

    Each cell of the ``size`` grid takes the class that covers most of its
    pixels (``ignore_index`` counts as a class); a cell whose majority
    covers less than ``min_purity`` of it, or is ``ignore_index``, becomes
    ``ignore_index``. PSA average-pools its score maps by the stride before
    the argmax (``train_aff.py``); on label maps this is the same vote.

    Args:
        label (Tensor): ``(B, H, W)`` int labels.
        size (tuple[int, int]): Grid size ``(h, w)``.
        num_classes (int): Classes including the background.
        ignore_index (int): Defaults to 255.
        min_purity (float): Defaults to 0.5.

    Returns:
        Tensor: ``(B, h, w)`` int64 labels.
    """
    label = label.long()
    unknown = (label == ignore_index) | (label < 0) | (label >= num_classes)
    label = label.masked_fill(unknown, num_classes)
    onehot = F.one_hot(label, num_classes + 1).permute(0, 3, 1, 2).float()
    share = F.adaptive_avg_pool2d(onehot, size)
    purity, small = share.max(dim=1)
    small = small.masked_fill((small == num_classes) |
                              (purity < min_purity), ignore_index)
    return small


@MODELS.register_module()
class AffinityHead(BaseModule):
    """Pixel embedding head of `AffinityNet
    <https://arxiv.org/abs/1803.10464>`_ (PSA, Ahn & Kwak, CVPR 2018).

    Backbone features of several levels (PSA: ``conv4``, ``conv5``,
    ``conv6`` of ResNet-38, all at stride 8) are each reduced by a 1x1
    convolution (128, 256 and 512 channels in the paper; PSA's code uses
    64, 128 and 256) followed by ELU, resized to the last level's grid,
    concatenated and mixed by a final 1x1 convolution + ELU into the
    embedding ``f``. The affinity of two cells ``i``, ``j`` is::

        W_ij = exp(-mean_c |f_c(i) - f_c(j)|)

    the mean over channels of the L1 distance (PSA ``resnet38_aff.py``; the
    paper writes the norm, which only rescales it). Pairs are the cells
    within ``radius`` (see :func:`~mmwsss.models.utils.affinity_pairs`).

    Training labels come from any pseudo mask (``gt_sem_seg``, uncertain
    pixels ``ignore_index``): reduced to the grid by
    :func:`downsample_label`, then turned into positive background,
    positive foreground and negative pairs
    (:func:`~mmwsss.models.losses.affinity_pair_labels`) for the
    :class:`~mmwsss.models.AffinityLoss`.

    Args:
        in_channels (Sequence[int]): Channels of the selected levels.
        num_classes (int): Segmentation classes including background.
        channels (Sequence[int]): Reduced channels per level. Defaults to
            (128, 256, 512) (the paper).
        out_channels (int, optional): Embedding channels. Defaults to None
            (the sum of ``channels``, as PSA's ``f9``).
        in_index (Sequence[int]): Backbone outputs to use. Defaults to
            (-3, -2, -1).
        radius (int): Pair radius in cells for training. Defaults to 5
            (PSA ``train_aff.py``).
        ignore_index (int): Uncertain label. Defaults to 255.
        min_purity (float): See :func:`downsample_label`. Defaults to 0.5.
        loss_aff (dict): Defaults to ``dict(type='AffinityLoss')``.
        init_cfg (dict | list, optional): Defaults to Kaiming-normal on the
            reductions and Xavier-uniform with gain 4 on the last layer
            (PSA).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 num_classes: int,
                 channels: Sequence[int] = (128, 256, 512),
                 out_channels: Optional[int] = None,
                 in_index: Sequence[int] = (-3, -2, -1),
                 radius: int = 5,
                 ignore_index: int = 255,
                 min_purity: float = 0.5,
                 loss_aff: ConfigType = dict(type='AffinityLoss'),
                 init_cfg: OptMultiConfig = [
                     dict(
                         type='Kaiming',
                         distribution='normal',
                         mode='fan_in',
                         nonlinearity='relu',
                         layer='Conv2d',
                         override=dict(
                             type='Xavier',
                             distribution='uniform',
                             gain=4,
                             name='fuse'))
                 ]) -> None:
        super().__init__(init_cfg=init_cfg)
        if not (len(in_channels) == len(channels) == len(in_index)):
            raise ValueError(
                'AffinityHead: in_channels, channels and in_index must have '
                f'the same length, got {list(in_channels)}, {list(channels)} '
                f'and {list(in_index)}')
        self.in_channels = list(in_channels)
        self.num_classes = num_classes
        self.in_index = list(in_index)
        self.radius = radius
        self.ignore_index = ignore_index
        self.min_purity = min_purity
        self.reduce = nn.ModuleList(
            nn.Conv2d(c_in, c, 1, bias=False)
            for c_in, c in zip(in_channels, channels))
        out_channels = out_channels or sum(channels)
        self.fuse = nn.Conv2d(sum(channels), out_channels, 1, bias=False)
        self.loss_aff = MODELS.build(loss_aff) \
            if isinstance(loss_aff, dict) else loss_aff

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """The embedding ``(B, D, h, w)`` on the grid of the last level."""
        levels = [feats[i] for i in self.in_index]
        size = levels[-1].shape[-2:]
        reduced = []
        for conv, x in zip(self.reduce, levels):
            y = F.elu(conv(x))
            if y.shape[-2:] != size:
                y = F.adaptive_avg_pool2d(y, size) if y.shape[-1] > size[-1] \
                    else F.interpolate(
                        y, size, mode='bilinear', align_corners=False)
            reduced.append(y)
        return F.elu(self.fuse(torch.cat(reduced, dim=1)))

    @staticmethod
    def pair_affinity(emb: Tensor, ind_from: Tensor,
                      ind_to: Tensor) -> Tensor:
        """``W_ij = exp(-mean_c |f_c(i) - f_c(j)|)`` for the given pairs.

        Args:
            emb (Tensor): ``(B, D, h, w)`` embedding.
            ind_from, ind_to (Tensor): ``(E,)`` flat cell indices.

        Returns:
            Tensor: ``(B, E)`` affinities in (0, 1].
        """
        flat = emb.flatten(2)
        diff = flat[:, :, ind_from] - flat[:, :, ind_to]
        return torch.exp(-diff.abs().mean(dim=1))

    def affinities(self, feats: Sequence[Tensor],
                   radius: int) -> Tuple[Tensor, Tensor, Tensor, Tuple]:
        """Affinities of all pairs within ``radius`` on the feature grid.

        Returns:
            tuple: ``(affinity (B, E), ind_from, ind_to, (h, w))``.
        """
        emb = self.forward(feats)
        h, w = emb.shape[-2:]
        ind_from, ind_to = affinity_pairs(radius, h, w, device=emb.device)
        return self.pair_affinity(emb, ind_from, ind_to), ind_from, ind_to, \
            (h, w)

    def loss(self, feats: Sequence[Tensor],
             data_samples: SampleList) -> Dict[str, Tensor]:
        """Affinity loss against the pair labels of the pseudo masks."""
        aff, ind_from, ind_to, size = self.affinities(feats, self.radius)
        label = torch.stack(
            [ds.gt_sem_seg.data[0] for ds in data_samples]).to(aff.device)
        small = downsample_label(label, size, self.num_classes,
                                 self.ignore_index,
                                 self.min_purity).flatten(1)
        bg_pos, fg_pos, neg = affinity_pair_labels(small[:, ind_from],
                                                   small[:, ind_to],
                                                   self.ignore_index)
        losses = self.loss_aff(aff, bg_pos, fg_pos, neg)
        with torch.no_grad():
            losses['pairs_bg'] = bg_pos.sum()
            losses['pairs_fg'] = fg_pos.sum()
            losses['pairs_neg'] = neg.sum()
        return losses
