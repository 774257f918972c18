# Copyright (c) OpenMMLab. All rights reserved.
"""The saliency loss of EPS."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

__all__ = ['EPSLoss', 'eps_split_classes', 'eps_estimated_saliency']


def eps_split_classes(probs: Tensor,
                      saliency: Tensor,
                      labels: Tensor,
                      tau: float = 0.4,
                      valid: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Assign each image class to the foreground or the background.

    EPS (Lee et al., CVPR 2021, Sec. 3.2) binarises the localisation map
    ``M_i`` of every class and the saliency map ``M_s`` at 0.5 (``B_i``,
    ``B_s``) and measures their overlap ratio::

        O(M_i, M_s) = |B_i ∩ B_s| / |B_i|

    A class of the image (``y_i = 1``) is foreground when ``O > tau`` and
    background otherwise; a class whose map has no pixel above 0.5 has
    ``O = 0`` (background). Only ``valid`` pixels are counted.

    Args:
        probs (Tensor): ``(B, C, h, w)`` localisation maps of the ``C``
            foreground classes (softmax probabilities in EPS).
        saliency (Tensor): ``(B, 1, h, w)`` saliency in [0, 1].
        labels (Tensor): ``(B, C)`` multi-hot image labels.
        tau (float): Overlap threshold. Defaults to 0.4 (EPS).
        valid (Tensor, optional): ``(B, 1, h, w)`` bool mask of the pixels
            to count. Defaults to None (all).

    Returns:
        tuple[Tensor, Tensor]: ``(fg, overlap)``: ``fg`` is a ``(B, C)``
        bool tensor (image class and ``O > tau``), ``overlap`` the
        ``(B, C)`` ratios ``O``.
    """
    binary = probs.detach() > 0.5
    sal = saliency > 0.5
    if valid is not None:
        binary = binary & valid
        sal = sal & valid
    area = binary.flatten(2).sum(-1).to(probs.dtype)
    inter = (binary & sal).flatten(2).sum(-1).to(probs.dtype)
    overlap = torch.where(area > 0, inter / area.clamp(min=1),
                          torch.zeros_like(area))
    fg = labels.bool() & (overlap > tau)
    return fg, overlap


def eps_estimated_saliency(probs: Tensor, labels: Tensor, fg: Tensor,
                           lam: float) -> Tensor:
    """The saliency map EPS estimates from its ``C + 1`` localisation maps.

    ::

        M_fg = sum_i y_i [O_i >  tau] M_i
        M_bg = sum_i y_i [O_i <= tau] M_i + M_{C+1}
        S_hat = lam * M_fg + (1 - lam) * (1 - M_bg)

    Args:
        probs (Tensor): ``(B, C + 1, h, w)`` maps; the last is background.
        labels (Tensor): ``(B, C)`` multi-hot image labels.
        fg (Tensor): ``(B, C)`` bool, from :func:`eps_split_classes`.
        lam (float): Foreground weight ``lambda``.

    Returns:
        Tensor: ``(B, 1, h, w)`` estimated saliency.
    """
    cls = probs[:, :-1]
    lab = labels.bool()
    w_fg = (lab & fg).to(probs.dtype)[..., None, None]
    w_bg = (lab & ~fg).to(probs.dtype)[..., None, None]
    m_fg = (cls * w_fg).sum(1, keepdim=True)
    m_bg = (cls * w_bg).sum(1, keepdim=True) + probs[:, -1:]
    return lam * m_fg + (1 - lam) * (1 - m_bg)


@MODELS.register_module()
class EPSLoss(nn.Module):
    """Saliency loss of `EPS <https://arxiv.org/abs/2105.08965>`_.

    "Railroad is not a Train: Saliency as Pseudo-pixel Supervision for
    Weakly Supervised Semantic Segmentation" (Lee et al., CVPR 2021). The
    classifier has ``C + 1`` output maps, the last one for the background;
    their softmax ``M`` is compared with an off-the-shelf saliency map
    ``M_s`` through the estimated saliency of
    :func:`eps_estimated_saliency`, whose classes are split by
    :func:`eps_split_classes`::

        L_sal = 1 / |P| sum_{p in P} (S_hat(p) - M_s(p))^2

    over the valid pixels ``P`` at the resolution of the maps; the saliency
    map is resized to it by nearest-neighbour sampling (EPS
    ``eps.py:get_eps_loss``). Images whose saliency is invalid (a missing
    map with ``LoadSaliencyMap(fallback='ignore')``) and padding pixels are
    left out; a batch without valid pixels gives a zero loss that keeps
    the graph.

    Args:
        tau (float): Overlap threshold of the foreground/background split.
            Defaults to 0.4 (EPS, VOC and COCO).
        lam (float): ``lambda``, weight of the foreground map. Defaults to
            0.5 (EPS VOC; COCO uses 0.9).
        loss_weight (float): Defaults to 1.0 (EPS: ``L = L_cls + L_sal``).
        loss_name (str): Defaults to 'loss_sal'.
    """

    def __init__(self,
                 tau: float = 0.4,
                 lam: float = 0.5,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_sal') -> None:
        super().__init__()
        if not 0 <= tau <= 1 or not 0 <= lam <= 1:
            raise ValueError('EPSLoss: tau and lam must lie in [0, 1], got '
                             f'tau={tau}, lam={lam}')
        self.tau = tau
        self.lam = lam
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """str: Key of the loss in the losses dict."""
        return self._loss_name

    def forward(self,
                logits: Tensor,
                saliency: Tensor,
                labels: Tensor,
                valid: Optional[Tensor] = None) -> Tensor:
        """Compute ``L_sal``.

        Args:
            logits (Tensor): ``(B, C + 1, h, w)`` raw class maps.
            saliency (Tensor): ``(B, 1, H, W)`` saliency in [0, 1].
            labels (Tensor): ``(B, C)`` multi-hot image labels.
            valid (Tensor, optional): ``(B, 1, H, W)`` bool mask of pixels
                with a real saliency value. Defaults to None (all).

        Returns:
            Tensor: The weighted scalar loss.
        """
        batch, channels, height, width = logits.shape
        if labels.shape != (batch, channels - 1):
            raise ValueError(
                f'EPSLoss: {channels} maps need {channels - 1} image labels '
                f'per image (C + 1 maps, the last for background); got '
                f'labels of shape {tuple(labels.shape)}')
        saliency = saliency.to(logits.dtype)
        if saliency.shape[-2:] != (height, width):
            saliency = F.interpolate(saliency, (height, width), mode='nearest')
        if valid is None:
            valid = torch.ones_like(saliency, dtype=torch.bool)
        elif valid.shape[-2:] != (height, width):
            valid = F.interpolate(
                valid.to(logits.dtype), (height, width),
                mode='nearest') > 0.5
        valid = valid.bool()
        probs = F.softmax(logits, dim=1)
        fg, _ = eps_split_classes(probs[:, :-1], saliency, labels, self.tau,
                                  valid)
        estimate = eps_estimated_saliency(probs, labels, fg, self.lam)
        sq = (estimate - saliency)**2 * valid
        loss = sq.sum() / valid.sum().clamp(min=1)
        return self.loss_weight * loss
