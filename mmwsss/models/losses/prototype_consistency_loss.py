# Copyright (c) OpenMMLab. All rights reserved.
"""RPNet's consistency loss between the original and enhanced branches."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

__all__ = ['PrototypeConsistencyLoss', 'max_normalize_cams']


def max_normalize_cams(cams: Tensor, eps: float = 1e-5) -> Tensor:
    """``N(a) = ReLU(ReLU(a) - eps) / (max_{x, y} ReLU(a) + eps)`` per image
    and class (RPNet ``step/train_cam.py``).

    Args:
        cams (Tensor): ``(B, K, h, w)``.
        eps (float): Defaults to 1e-5 (code).

    Returns:
        Tensor: ``(B, K, h, w)`` in ``[0, 1)``.
    """
    pos = F.relu(cams)
    peak = pos.flatten(2).amax(-1)[..., None, None]
    return F.relu(pos - eps) / (peak + eps)


@MODELS.register_module()
class PrototypeConsistencyLoss(nn.Module):
    """Consistency loss ``L_s`` of RPNet (Liu et al., eq. 13), weighted by
    ``lambda = 10`` (paper eq. 11 and code).

    Two modes:

    - ``'feature'`` (paper eq. 13, the default): squared distance between
      the enhanced features ``f'_N = G(F_hat) f_N`` and ``f_N``::

          L_s = 1/B sum_b sum_{x, y} || f'_N(x, y) - f_N(x, y) ||^2

      (``reduction='sum'``: summed over locations and channels as in the
      equation, averaged over images, which the paper leaves open), or the
      mean over ``B x C x h x w`` (``reduction='mean'``).
    - ``'cam'`` (reference code ``step/train_cam.py``): mean squared error
      between the max-normalised CAMs (:func:`max_normalize_cams`) of the
      original and enhanced branches, restricted to the image's classes::

          L_s = 1/(B K h w) sum_{b, k, x, y} y_bk (N(A_bk) - N(A'_bk))^2

      absent classes count as zeros in the mean, as in the code. Use
      ``reduction='mean'`` (the only one that applies).

    Neither side is detached (as in the code; the paper does not say).

    Args:
        mode (str): 'feature' or 'cam'. Defaults to 'feature' (paper).
        reduction (str): 'sum' or 'mean', see above; 'sum' is only for
            'feature'. Defaults to 'sum' (paper eq. 13).
        loss_weight (float): ``lambda``. Defaults to 10 (paper and code).
        eps (float): Of :func:`max_normalize_cams`. Defaults to 1e-5.
        loss_name (str): Defaults to 'loss_consistency'.
    """

    def __init__(self,
                 mode: str = 'feature',
                 reduction: str = 'sum',
                 loss_weight: float = 10.0,
                 eps: float = 1e-5,
                 loss_name: str = 'loss_consistency') -> None:
        super().__init__()
        if mode not in ('feature', 'cam'):
            raise ValueError(
                f"PrototypeConsistencyLoss: mode must be 'feature' or 'cam', "
                f'got {mode!r}')
        if reduction not in ('sum', 'mean'):
            raise ValueError(
                "PrototypeConsistencyLoss: reduction must be 'sum' or "
                f"'mean', got {reduction!r}")
        if mode == 'cam' and reduction == 'sum':
            raise ValueError(
                "PrototypeConsistencyLoss: mode='cam' is the code's mean "
                "squared error; set reduction='mean'")
        self.mode = mode
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.eps = eps
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """str: Key of the loss in the losses dict."""
        return self._loss_name

    def forward(self,
                original: Tensor,
                enhanced: Tensor,
                labels: Optional[Tensor] = None) -> Tensor:
        """Compute ``lambda * L_s``.

        Args:
            original (Tensor): ``(B, C, h, w)`` features (``'feature'``) or
                ``(B, K, h, w)`` CAMs (``'cam'``) of the original branch.
            enhanced (Tensor): The same of the enhanced branch.
            labels (Tensor, optional): ``(B, K)`` multi-hot image labels;
                required by ``'cam'``, ignored by ``'feature'``.

        Returns:
            Tensor: The weighted scalar loss.
        """
        if original.shape != enhanced.shape:
            raise ValueError(
                'PrototypeConsistencyLoss: the two branches differ in shape: '
                f'{tuple(original.shape)} vs {tuple(enhanced.shape)}')
        if self.mode == 'feature':
            sq = (enhanced - original)**2
            if self.reduction == 'sum':
                loss = sq.flatten(1).sum(-1).mean()
            else:
                loss = sq.mean()
            return self.loss_weight * loss
        if labels is None or labels.shape != original.shape[:2]:
            raise ValueError(
                "PrototypeConsistencyLoss(mode='cam') needs (B, K) labels "
                f'matching the CAMs {tuple(original.shape)}, got '
                f'{None if labels is None else tuple(labels.shape)}')
        diff = max_normalize_cams(original, self.eps) - max_normalize_cams(
            enhanced, self.eps)
        sq = diff**2 * labels.to(diff)[..., None, None]
        return self.loss_weight * sq.mean()
