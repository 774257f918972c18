# Copyright (c) OpenMMLab. All rights reserved.
"""The region prototype module of RPNet (parameter-free).

Liu et al., "Cross-Image Region Mining with Region Prototypical Network for
Weakly Supervised Segmentation" (RPNet, https://arxiv.org/abs/2108.07413). The functions below are the steps of Sec. III-D;
:class:`RegionPrototypeModule` chains them for a batch of image groups and
returns the smoothed foreground map ``G(F_hat)`` that
:class:`~mmwsss.models.RegionPrototypeHead` multiplies with its features.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'confident_mask', 'masked_average_pool', 'bernoulli_drop',
    'cosine_max_map', 'gaussian_kernel', 'gaussian_smooth', 'max_rescale',
    'RegionPrototypeModule'
]


def confident_mask(feats: Tensor,
                   thr: float = 0.3,
                   inclusive: bool = False) -> Tensor:
    """Binary mask of the confident locations (RPNet eqs. 4 and 6)::

        O_c(x, y) = f_c(x, y) / max_{x', y'} f_c(x', y')   (per channel)
        O'(x, y)  = max_c O_c(x, y)
        M(x, y)   = [O'(x, y) > thr]     (paper; ``>=`` in the code)

    A channel whose spatial maximum is <= 0 is set to 0 instead of being
    divided (the reference code divides by ``max + 1e-5``, which flips the
    sign of such a channel and can mark its most negative locations as
    confident); the code's ``+ 1e-5`` is left out.

    Args:
        feats (Tensor): ``(B, C, h, w)`` features.
        thr (float): Threshold ``alpha``. Defaults to 0.3 (paper and code).
        inclusive (bool): ``>=`` instead of ``>``. Defaults to False (paper
            eq. 6; the code uses ``>=``).

    Returns:
        Tensor: ``(B, 1, h, w)`` bool mask.
    """
    peak = feats.detach().flatten(2).amax(-1)[..., None, None]
    positive = peak > 0
    norm = torch.where(positive,
                       feats.detach() / torch.where(positive, peak, 1.0),
                       torch.zeros_like(feats))
    conf = norm.amax(1, keepdim=True)
    return conf >= thr if inclusive else conf > thr


def masked_average_pool(feats: Tensor, mask: Tensor) -> Tuple[Tensor, Tensor]:
    """Prototypes by masked average pooling (RPNet eq. 5)::

        p = sum_{x, y} M(x, y) f(x, y) / sum_{x, y} M(x, y)

    Args:
        feats (Tensor): ``(B, C, h, w)``.
        mask (Tensor): ``(B, 1, h, w)`` bool or {0, 1}.

    Returns:
        tuple[Tensor, Tensor]: ``(protos, valid)``: ``(B, C)`` prototypes
        (zero for an empty mask; the code's ``+ 5e-4`` in the denominator is
        left out) and a ``(B, )`` bool, False where the mask is empty.
    """
    mask = mask.to(feats.dtype)
    count = mask.flatten(1).sum(-1)
    total = (feats * mask).flatten(2).sum(-1)
    return total / count.clamp(min=1)[:, None], count > 0


def bernoulli_drop(mask: Tensor,
                   drop_prob: float = 0.5,
                   generator: Optional[torch.Generator] = None) -> Tensor:
    """Drop each location of ``mask`` with probability ``drop_prob``.

    RPNet eq. 6: ``M = Z [O' > alpha]`` with ``Z ~ Bernoulli``; the paper's
    ``beta = 0.5`` keeps and drops with the same probability (the code:
    ``F.dropout(mask, 0.5)`` then division by the batch maximum). An image
    whose mask would become empty keeps its full mask (the code divides by
    the batch maximum, NaN when nothing survives in the whole batch).

    Args:
        mask (Tensor): ``(B, 1, h, w)`` bool.
        drop_prob (float): Defaults to 0.5.
        generator (torch.Generator, optional): For the random draw.

    Returns:
        Tensor: ``(B, 1, h, w)`` bool.
    """
    keep = torch.rand(
        mask.shape, generator=generator, device=mask.device) >= drop_prob
    dropped = mask & keep
    empty = dropped.flatten(1).sum(-1) == 0
    return torch.where(empty[:, None, None, None], mask, dropped)


def cosine_max_map(feats: Tensor,
                   protos: Tensor,
                   allowed: Tensor,
                   empty_value: float = 0.0) -> Tensor:
    """The foreground map ``F_hat`` (RPNet eqs. 7 and 8)::

        s_n(x, y)  = cos(p_n, f(x, y))
        F_hat(x, y) = max_n s_n(x, y)      (over the allowed prototypes)

    Args:
        feats (Tensor): ``(B, C, h, w)``.
        protos (Tensor): ``(P, C)`` prototypes.
        allowed (Tensor): ``(B, P)`` bool, which prototypes each image
            compares with (its group's, non-empty ones).
        empty_value (float): The map of an image without any allowed
            prototype. Defaults to 0 (the value the code gets from the zero
            prototype of an empty mask).

    Returns:
        Tensor: ``(B, 1, h, w)``.
    """
    f = F.normalize(feats, dim=1)
    p = F.normalize(protos, dim=1)
    sim = torch.einsum('bchw,pc->bphw', f, p)
    sim = sim.masked_fill(~allowed[:, :, None, None], float('-inf'))
    fmap = sim.amax(1, keepdim=True)
    none = ~allowed.any(1)
    return torch.where(none[:, None, None, None],
                       torch.full_like(fmap, empty_value), fmap)


def gaussian_kernel(size: int = 5, sigma: float = 3.0) -> Tensor:
    """``(size, size)`` Gaussian ``exp(-(x^2 + y^2) / (2 sigma^2))`` on the
    integer offsets ``-size // 2 .. size // 2``, normalised to sum 1 (RPNet
    eq. 9; the code's ``GaussianSmoothing(1, 5, 3)``)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f'gaussian kernel size must be odd, got {size}')
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-x**2 / (2 * sigma**2))
    k = g[:, None] * g[None, :]
    return k / k.sum()


def gaussian_smooth(fmap: Tensor, kernel: Tensor) -> Tensor:
    """Convolve ``(B, 1, h, w)`` maps with ``kernel``, zero padding."""
    k = kernel.to(fmap)[None, None]
    return F.conv2d(fmap, k, padding=kernel.shape[-1] // 2)


def max_rescale(fmap: Tensor, scale: float = 1.3) -> Tensor:
    """``F_hat / max F_hat * scale`` per image (reference code only).

    An image whose maximum is <= 0 is only multiplied by ``scale`` (the
    code's division by ``max + 1e-5`` would flip or blow up its sign).
    """
    peak = fmap.flatten(1).amax(-1)[:, None, None, None]
    positive = peak > 0
    return torch.where(positive, fmap / torch.where(positive, peak, 1.0),
                       fmap) * scale


def _group_matrix(group_ids: Tensor) -> Tensor:
    """``(B, B)`` bool: images ``i`` and ``j`` are in the same group."""
    return group_ids[:, None] == group_ids[None, :]


class RegionPrototypeModule(nn.Module):
    """RPNet's region comparison for a batch of image groups.

    For every prototype level ``l`` and image ``b`` (features resized to the
    grid of the last level ``f_N``)::

        M_l    = confident_mask(mask features, thr)          eqs. 4, 6
        p_l^b  = MAP(f_l^b, drop(M_l^b))   [+ MAP(f_l^b, M_l^b)]  eq. 5
        F_hat^b = max over l, over b' in group(b), over their prototypes of
                  cos(p_l^b', g_l^b)                         eqs. 7, 8
        G       = gauss_{k, sigma} * F_hat   [after max_rescale]  eq. 9

    where ``g_l = f_N`` (paper eq. 7: every prototype is compared with the
    last-level features) or ``g_l = f_l`` (code: level-l prototypes against
    level-l features). Parameter-free: it is a plain ``nn.Module`` (for the
    Gaussian buffer and ``.to()``), not a registered one, and is built by
    the head from its ``prototype_cfg``.

    Args:
        thr (float): Confidence threshold ``alpha``. Defaults to 0.3.
        inclusive (bool): ``>=`` (code) instead of ``>`` (paper). Defaults
            to False.
        drop_prob (float): Bernoulli drop probability ``beta``; 0 disables
            dropping. Defaults to 0.5.
        drop_mode (str): 'replace' (paper eq. 6: each image has one dropped
            prototype per level) or 'add' (code: the full and the dropped
            prototypes, two per level). Defaults to 'replace'.
        mask_source (str): 'per_level' (paper: level ``l`` thresholds its
            own features) or 'last' (code: every level uses the mask of the
            last-level features ``f_N``). Defaults to 'per_level'.
        compare_to (str): 'last' (paper eq. 7) or 'same' (code). 'last'
            needs equal channels on every level. Defaults to 'last'.
        scope (str): 'group' (prototypes of every image of the group, paper
            and code with pairs) or 'self' (the image's own only, Table VII
            "one image"). Defaults to 'group'.
        rescale (float, optional): Max-normalise ``F_hat`` per image and
            multiply by this (code: 1.3). Defaults to None (paper: none).
        gaussian_size (int): Kernel size; 0 disables smoothing. Defaults
            to 5 (code; the paper gives only sigma).
        gaussian_sigma (float): Defaults to 3 (paper and code).
    """

    def __init__(self,
                 thr: float = 0.3,
                 inclusive: bool = False,
                 drop_prob: float = 0.5,
                 drop_mode: str = 'replace',
                 mask_source: str = 'per_level',
                 compare_to: str = 'last',
                 scope: str = 'group',
                 rescale: Optional[float] = None,
                 gaussian_size: int = 5,
                 gaussian_sigma: float = 3.0) -> None:
        super().__init__()
        for name, value, choices in (
            ('drop_mode', drop_mode, ('replace', 'add')),
            ('mask_source', mask_source, ('per_level', 'last')),
            ('compare_to', compare_to, ('last', 'same')),
            ('scope', scope, ('group', 'self')),
        ):
            if value not in choices:
                raise ValueError(f'RegionPrototypeModule: {name} must be one '
                                 f'of {choices}, got {value!r}')
        if not 0 <= drop_prob < 1:
            raise ValueError(f'drop_prob must lie in [0, 1), got {drop_prob}')
        self.thr = thr
        self.inclusive = inclusive
        self.drop_prob = drop_prob
        self.drop_mode = drop_mode
        self.mask_source = mask_source
        self.compare_to = compare_to
        self.scope = scope
        self.rescale = rescale
        if gaussian_size:
            self.register_buffer(
                'kernel',
                gaussian_kernel(gaussian_size, gaussian_sigma),
                persistent=False)
        else:
            self.kernel = None

    def prototypes(self, feats: Tensor,
                   mask: Tensor) -> List[Tuple[Tensor, Tensor]]:
        """``[(protos (B, C), valid (B, ))]``: one entry ('replace') or two
        ('add': dropped, then full) per image; no dropping in eval mode or
        with ``drop_prob=0``."""
        if not self.training or self.drop_prob == 0:
            return [masked_average_pool(feats, mask)]
        dropped = masked_average_pool(feats,
                                      bernoulli_drop(mask, self.drop_prob))
        if self.drop_mode == 'replace':
            return [dropped]
        return [dropped, masked_average_pool(feats, mask)]

    def forward(self,
                level_feats: Sequence[Tensor],
                last_feat: Tensor,
                group_ids: Optional[Tensor] = None) -> Tensor:
        """Smoothed foreground map ``G(F_hat)``.

        Args:
            level_feats (list[Tensor]): ``(B, C_l, h, w)`` per prototype
                level, on the grid of ``last_feat``.
            last_feat (Tensor): ``(B, C, h, w)`` last-level features
                ``f_N`` (the ones that get enhanced). An image none of whose
                group's masks is non-empty gets ``F_hat = 0``.
            group_ids (Tensor, optional): ``(B, )`` int group of each image.
                Defaults to None (each image its own group).

        Returns:
            Tensor: ``(B, 1, h, w)``.
        """
        batch = last_feat.shape[0]
        if group_ids is None or self.scope == 'self':
            group_ids = torch.arange(batch, device=last_feat.device)
        same_group = _group_matrix(group_ids.to(last_feat.device))
        last_mask = None
        if self.mask_source == 'last':
            last_mask = confident_mask(last_feat, self.thr, self.inclusive)
        maps = []
        for feats in level_feats:
            if feats.shape[-2:] != last_feat.shape[-2:]:
                raise ValueError(
                    'RegionPrototypeModule: level features must be on the '
                    f'grid of the last level {tuple(last_feat.shape[-2:])}, '
                    f'got {tuple(feats.shape[-2:])}')
            mask = last_mask if last_mask is not None else confident_mask(
                feats, self.thr, self.inclusive)
            target = last_feat if self.compare_to == 'last' else feats
            if target.shape[1] != feats.shape[1]:
                raise ValueError(
                    "RegionPrototypeModule: compare_to='last' needs the "
                    f'channels of every level ({feats.shape[1]}) to equal '
                    f'those of the last level ({target.shape[1]}); reduce '
                    "them or use compare_to='same'")
            for protos, valid in self.prototypes(feats, mask):
                maps.append(
                    cosine_max_map(target, protos, same_group & valid[None],
                                   float('-inf')))
        fmap = torch.cat(maps, 1).amax(1, keepdim=True)
        # no non-empty prototype in the whole group: F_hat = 0 (code value)
        fmap = torch.where(torch.isinf(fmap), torch.zeros_like(fmap), fmap)
        if self.rescale is not None:
            fmap = max_rescale(fmap, self.rescale)
        if self.kernel is not None:
            fmap = gaussian_smooth(fmap, self.kernel)
        return fmap
