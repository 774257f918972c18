# Copyright (c) OpenMMLab. All rights reserved.
"""The pixel-to-segment SegSort loss in its NCA form (SPML eq. 3).

Hwang et al., "SegSort: Segmentation by Discriminative Sorting of
Segments" (ICCV 2019) and Ke et al., "Universal Weakly Supervised
Segmentation by Pixel-to-Segment Contrastive Learning" (SPML, ICLR 2021,
https://arxiv.org/abs/2105.00957), Sec. 3.2. With unit pixel embeddings
``e_i``, unit segment prototypes ``mu_s`` and a concentration ``kappa``
(a von Mises-Fisher model with a shared ``kappa``, whose normaliser
cancels), the loss of pixel ``i`` with positive segments ``C+_i`` and
negative segments ``C-_i`` is::

    L_i = -log( sum_{s in C+_i} exp(kappa mu_s^T e_i)
                / sum_{s in C+_i u C-_i} exp(kappa mu_s^T e_i) )

averaged over the pixels with at least one positive segment.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmseg.registry import MODELS
from torch import Tensor

__all__ = [
    'SegSortLoss', 'segsort_nca_loss', 'segsort_nca_per_pixel',
    'segsort_plus_sets'
]


def segsort_plus_sets(same: Tensor, different: Tensor,
                      own: Tensor) -> Tuple[Tensor, Tensor]:
    """Positive and negative sets of the SegSort+ (NCA) rule.

    ``C+_i`` is the pixel's same-label segments without its own segment
    ``s_i``; when that leaves nothing and ``s_i`` itself is a same-label
    segment, ``C+_i = {s_i}`` (SegSort's plain likelihood, eq. 2).
    ``C-_i`` is the different-label segments. The own segment is thus in
    neither set when the pixel has other positives (paper eq. 3 and the
    reference ``group_mode='segsort+'``).

    Args:
        same (Tensor): ``(N, S)`` bool, pixel ``i`` and segment ``s``
            share the relation's label.
        different (Tensor): ``(N, S)`` bool, they do not (a segment in
            neither is left out, e.g. an unlabelled one).
        own (Tensor): ``(N, )`` long index of each pixel's own segment in
            the ``S`` columns, ``-1`` for none.

    Returns:
        tuple[Tensor, Tensor]: ``(positive, negative)`` disjoint ``(N, S)``
        bool masks.
    """
    own_mask = torch.zeros_like(same, dtype=torch.bool)
    rows = (own >= 0).nonzero().flatten()
    own_mask[rows, own[rows]] = True
    positive = same & ~own_mask
    fallback = ~positive.any(1) & (same & own_mask).any(1)
    positive |= own_mask & fallback[:, None]
    return positive, different & ~positive


def _nca_logsumexp(logits: Tensor, positive: Tensor, negative: Tensor,
                   has_positive: Tensor) -> Tensor:
    """``L_i`` by log-sum-exp over the masked logits: exact for any spread
    of the logits, at about twice the passes over the ``(N, S)`` matrix of
    :func:`segsort_nca_per_pixel`'s shared-shift form."""
    # a row without a positive takes the whole row in both sums: its
    # value is finite and is then zeroed, so is its gradient
    num_mask = positive | ~has_positive[:, None]
    den_mask = num_mask | negative
    ninf = float('-inf')
    log_num = logits.masked_fill(~num_mask, ninf).logsumexp(1)
    log_den = logits.masked_fill(~den_mask, ninf).logsumexp(1)
    return (log_den - log_num) * has_positive


def segsort_nca_per_pixel(embeddings: Tensor, prototypes: Tensor,
                          positive: Tensor, negative: Tensor,
                          concentration: float) -> Tuple[Tensor, Tensor]:
    """``L_i`` of every pixel (module docstring) and whether it counts.

    Computed in float32 with autocast off; ``exp`` of large numbers is
    never formed (``exp(16 cos)`` alone overflows fp16 for ``cos > 0.69``).
    Each row's logits ``z_is = kappa mu_s^T e_i`` are shifted by their
    maximum ``m_i`` (a constant of the row, so the ratio is unchanged)::

        L_i = log sum_{C+ u C-} exp(z_is - m_i)
              - log sum_{C+} exp(z_is - m_i)

    which takes one ``exp`` of the ``(N, S)`` matrix for both sums. Why
    not :func:`torch.logsumexp` on each masked set: that is two masked
    copies and two exponentials, about 1.6x the time of this form on a
    training step's matrix (SPML's loss is dominated by these passes).
    For unit vectors ``z_is - m_i >= -2 kappa``, so the sums stay normal
    float32 numbers for ``kappa`` up to about 40; a row whose positive sum
    falls below the smallest normal float32 (a larger spread) is computed
    by log-sum-exp over the masked logits instead, exactly.

    A pixel without a positive gets ``L_i = 0`` with a finite (zero)
    gradient; a pixel without a negative gets ``L_i = 0``.

    Args:
        embeddings (Tensor): ``(N, D)`` unit pixel embeddings.
        prototypes (Tensor): ``(S, D)`` unit segment prototypes.
        positive (Tensor): ``(N, S)`` bool ``C+``.
        negative (Tensor): ``(N, S)`` bool ``C-`` (may overlap ``C+``:
            the denominator sums over the union).
        concentration (float): ``kappa``.

    Returns:
        tuple[Tensor, Tensor]: ``(loss, has_positive)``: ``(N, )`` float32
        ``L_i`` and ``(N, )`` bool.
    """
    n, s = positive.shape
    if embeddings.shape[0] != n or prototypes.shape[0] != s or \
            negative.shape != positive.shape:
        raise ValueError(
            'segsort_nca_per_pixel: expected (N, D) embeddings, (S, D) '
            'prototypes and (N, S) masks, got '
            f'{tuple(embeddings.shape)}, {tuple(prototypes.shape)}, '
            f'{tuple(positive.shape)}, {tuple(negative.shape)}')
    with torch.autocast(device_type=embeddings.device.type, enabled=False):
        logits = concentration * (embeddings.float() @ prototypes.float().t())
        positive, negative = positive.bool(), negative.bool()
        has_positive = positive.any(1)
        if s == 0:
            return logits.sum(1), has_positive
        shifted = (logits - logits.detach().amax(1, keepdim=True)).exp()
        # a row without a positive gets 1 in both sums: L_i = 0, and its
        # gradient is zeroed by the factor has_positive
        none = (~has_positive).float()
        num = torch.where(positive, shifted, 0.0).sum(1) + none
        den = torch.where(positive | negative, shifted, 0.0).sum(1) + none
        if bool((num < torch.finfo(torch.float32).tiny).any()):
            return _nca_logsumexp(logits, positive, negative,
                                  has_positive), has_positive
        loss = (den.log() - num.log()) * has_positive
    return loss, has_positive


def segsort_nca_loss(embeddings: Tensor,
                     prototypes: Tensor,
                     positive: Tensor,
                     negative: Tensor,
                     concentration: float,
                     weight: Optional[Tensor] = None) -> Tensor:
    """Mean of :func:`segsort_nca_per_pixel` over the pixels with a
    positive (weighted mean with ``weight``).

    Args:
        embeddings (Tensor): ``(N, D)`` unit pixel embeddings.
        prototypes (Tensor): ``(S, D)`` unit segment prototypes.
        positive (Tensor): ``(N, S)`` bool ``C+``.
        negative (Tensor): ``(N, S)`` bool ``C-``.
        concentration (float): ``kappa``.
        weight (Tensor, optional): ``(N, )`` non-negative pixel weights,
            e.g. ``1 / (pixels of the image)`` for a mean per image, then
            over images. Defaults to None (all 1).

    Returns:
        Tensor: The float32 scalar loss; 0 (with a gradient path, no NaN)
        when no pixel has a positive.
    """
    loss, has_positive = segsort_nca_per_pixel(embeddings, prototypes,
                                               positive, negative,
                                               concentration)
    w = has_positive.float()
    if weight is not None:
        w = w * weight.float()
    total = w.sum()
    return (loss * w).sum() / torch.where(total > 0, total,
                                          torch.ones_like(total))


@MODELS.register_module()
class SegSortLoss(nn.Module):
    """Pixel-to-segment NCA loss of `SegSort/SPML
    <https://arxiv.org/abs/2105.00957>`_ (SPML eq. 3), given the positive
    and negative segment sets::

        loss = loss_weight * mean_{i: C+_i != {}} -log(
            sum_{s in C+_i} exp(kappa mu_s^T e_i)
            / sum_{s in C+_i u C-_i} exp(kappa mu_s^T e_i))

    Build the sets with :func:`segsort_plus_sets` or the relations of
    :mod:`mmwsss.models.losses.spml_loss`; numerically safe in fp16/AMP
    (see :func:`segsort_nca_per_pixel`).

    Args:
        concentration (float): ``kappa``. Defaults to 10 (the reference
            ``SegSortLoss`` default; SPML uses 6 to 16 per relation).
        loss_weight (float): Defaults to 1.0.
        loss_name (str): Defaults to 'loss_segsort'.
    """

    def __init__(self,
                 concentration: float = 10.0,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_segsort') -> None:
        super().__init__()
        if concentration <= 0:
            raise ValueError(f'SegSortLoss: concentration must be > 0, got '
                             f'{concentration}')
        self.concentration = float(concentration)
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """str: Key of the loss in the losses dict."""
        return self._loss_name

    def extra_repr(self) -> str:
        return (f'concentration={self.concentration}, '
                f'loss_weight={self.loss_weight}')

    def forward(self,
                embeddings: Tensor,
                prototypes: Tensor,
                positive: Tensor,
                negative: Tensor,
                weight: Optional[Tensor] = None) -> Tensor:
        """Compute the weighted loss.

        Args:
            embeddings (Tensor): ``(N, D)`` unit pixel embeddings.
            prototypes (Tensor): ``(S, D)`` unit segment prototypes.
            positive (Tensor): ``(N, S)`` bool ``C+``.
            negative (Tensor): ``(N, S)`` bool ``C-``.
            weight (Tensor, optional): ``(N, )`` pixel weights. Defaults
                to None.

        Returns:
            Tensor: The scalar loss.
        """
        return self.loss_weight * segsort_nca_loss(
            embeddings, prototypes, positive, negative, self.concentration,
            weight)
