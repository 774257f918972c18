# Copyright (c) OpenMMLab. All rights reserved.
"""The pixel-pair affinity loss of AffinityNet."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from torch import Tensor

__all__ = ['AffinityLoss', 'affinity_pair_labels']


def affinity_pair_labels(label_from: Tensor,
                         label_to: Tensor,
                         ignore_index: int = 255,
                         num_classes: Optional[int] = None
                         ) -> Tuple[Tensor, Tensor, Tensor]:
    """Affinity labels of pixel pairs from their pseudo-mask labels.

    AffinityNet (Ahn & Kwak, CVPR 2018, Sec. 3.2): a pair whose two pixels
    have the same class is positive (``W*_ij = 1``), split into background
    and foreground pairs; a pair of different classes is negative
    (``W*_ij = 0``); a pair with an uncertain pixel (``ignore_index``) is
    not used. With ``num_classes`` a pair is used only when both labels
    lie in ``[0, num_classes)`` (IRN ``AffinityDisplacementLoss``: labels
    below 21 on VOC), so other out-of-range labels are ignored too.

    Args:
        label_from (Tensor): Labels of the first pixel of each pair.
        label_to (Tensor): Labels of the second pixel, same shape.
        ignore_index (int): Uncertain label. Defaults to 255.
        num_classes (int, optional): Classes including the background.
            Defaults to None (only ``ignore_index`` is excluded).

    Returns:
        tuple[Tensor, Tensor, Tensor]: Float masks ``(bg_pos, fg_pos,
        neg)`` of the input shape.
    """
    valid = (label_from != ignore_index) & (label_to != ignore_index)
    if num_classes is not None:
        valid &= (label_from >= 0) & (label_from < num_classes) & \
            (label_to >= 0) & (label_to < num_classes)
    same = label_from == label_to
    bg_pos = valid & same & (label_from == 0)
    fg_pos = valid & same & (label_from != 0)
    neg = valid & ~same
    return bg_pos.float(), fg_pos.float(), neg.float()


@MODELS.register_module()
class AffinityLoss(nn.Module):
    """Class-balanced cross-entropy on pair affinities, from `AffinityNet
    <https://arxiv.org/abs/1803.10464>`_.

    With predicted affinities ``a`` in (0, 1] and the pair sets of
    :func:`affinity_pair_labels`::

        L_bg  = -1 / |P_bg|  sum_{P_bg}  log(a + eps)
        L_fg  = -1 / |P_fg|  sum_{P_fg}  log(a + eps)
        L_neg = -1 / |P_neg| sum_{P_neg} log(1 + eps - a)
        L = L_bg / 4 + L_fg / 4 + L_neg / 2

    with ``eps = 1e-5`` also added to each count (PSA ``train_aff.py``;
    the paper writes ``L_bg/2 + L_fg/2`` for the positive term
    ``L_pos = L_bg + L_fg``, i.e. the same weights). Counts are summed
    over the batch.

    IRN (Ahn, Cho & Kwak, CVPR 2019, Eq. 5-6; ``AffinityDisplacementLoss``
    of ``jiwoon-ahn/irn``) trains its boundary branch with the same loss on
    its path-max affinities ``a_ij = 1 - max_{k in path} B_k``::

        L+ = L_bg / 2 + L_fg / 2,   L- = L_neg,   L = (L+ + L-) / 2

    which is ``L_bg / 4 + L_fg / 4 + L_neg / 2`` again, with the same
    ``eps`` in the logarithms and the counts, so
    :class:`~mmwsss.models.IRNBoundaryHead` uses this class. An empty set
    (e.g. no foreground pair in a background-only crop) contributes 0.

    Args:
        loss_weight (float): Defaults to 1.0.
        eps (float): Defaults to 1e-5 (PSA).
    """

    def __init__(self, loss_weight: float = 1.0, eps: float = 1e-5) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self, affinity: Tensor, bg_pos: Tensor, fg_pos: Tensor,
                neg: Tensor) -> Dict[str, Tensor]:
        """Return ``loss_aff`` and its three parts (the parts detached).

        Args:
            affinity (Tensor): Predicted affinities of the pairs.
            bg_pos, fg_pos, neg (Tensor): Float masks of the same shape.

        Returns:
            dict[str, Tensor]: ``loss_aff`` (weighted total) and
            ``aff_bg``, ``aff_fg``, ``aff_neg`` (detached parts, for logs).
        """
        eps = self.eps
        log_pos = torch.log(affinity + eps)
        log_neg = torch.log(1 + eps - affinity)
        l_bg = -(bg_pos * log_pos).sum() / (bg_pos.sum() + eps)
        l_fg = -(fg_pos * log_pos).sum() / (fg_pos.sum() + eps)
        l_neg = -(neg * log_neg).sum() / (neg.sum() + eps)
        total = l_bg / 4 + l_fg / 4 + l_neg / 2
        return dict(
            loss_aff=self.loss_weight * total,
            aff_bg=l_bg.detach(),
            aff_fg=l_fg.detach(),
            aff_neg=l_neg.detach())
