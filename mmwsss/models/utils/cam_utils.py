# Copyright (c) OpenMMLab. All rights reserved.
"""CAM post-processing: normalisation, background scores, label maps.

These are the rules the reference implementations use to turn class
activation maps into pseudo masks, written once so that every segmentor,
metric and tool applies them identically.

- Normalisation (IRN ``step/make_cam.py``, PSA ``infer_cls.py``): each
  class map is rectified and divided by its maximum,
  ``A_k = relu(M_k) / (max_{x,y} relu(M_k) + eps)``, so ``A_k`` lies in
  ``[0, 1)``.
- Background score, two rules:

  * ``threshold`` (IRN ``cam_eval_thres``, EPS ``--thr``): a constant
    ``b(x, y) = t``; a pixel is foreground when ``max_k A_k(x, y) > t``.
  * ``power`` (PSA ``infer_cls.py``): ``b(x, y) = (1 - max_k A_k(x, y))^alpha``.
    It is equivalent to a threshold ``t`` solving ``t = (1 - t)^alpha``
    (:func:`power_to_threshold`).

- Label map: ``argmax`` over ``[b, A_{k_1}, ..., A_{k_L}]`` where
  ``k_1..k_L`` are the image's classes; ties go to the background.
"""
from typing import Dict, Optional

import torch
from torch import Tensor

__all__ = [
    'normalize_cams', 'background_score', 'cams_to_label', 'cams_to_probs',
    'power_to_threshold', 'check_bg_rule', 'channel_argmax'
]


#: The keys of a background rule (``output`` is the ``'model'`` marker of
#: a model that makes its own mask).
BG_RULE_KEYS = ('type', 'thr', 'alpha', 'output')


def check_bg_rule(rule: Dict, where: Optional[str] = None) -> Dict:
    """Validate a background rule dict and return it.

    Args:
        rule (dict): ``dict(type='threshold', thr=t)`` with ``0 <= t <= 1``
            or ``dict(type='power', alpha=a)`` with ``a > 0`` (numbers, not
            strings or booleans); no keys but :data:`BG_RULE_KEYS`.
        where (str, optional): Where the rule is set, for the messages
            (e.g. ``'CAMSegmentor test_cfg.bg'``). Defaults to None.

    Returns:
        dict: The same rule.
    """
    from .cfg_check import check_cfg_keys, check_cfg_types
    name = f'{where}: background rule' if where else 'background rule'
    if not isinstance(rule, dict):
        raise TypeError(f'{name} must be a dict, e.g. '
                        f"dict(type='threshold', thr=0.15), got {rule!r}")
    check_cfg_keys(rule, BG_RULE_KEYS, where or 'background rule')
    kind = rule.get('type')
    if kind == 'threshold':
        check_cfg_types(rule, dict(thr='number'), where or 'background rule')
        thr = rule.get('thr')
        if thr is None or not 0 <= float(thr) <= 1:
            raise ValueError(f'{name} {rule}: "thr" must be in [0, 1]')
    elif kind == 'power':
        check_cfg_types(rule, dict(alpha='number'),
                        where or 'background rule')
        alpha = rule.get('alpha')
        if alpha is None or float(alpha) <= 0:
            raise ValueError(f'{name} {rule}: "alpha" must be > 0')
    else:
        raise ValueError(f'{name} {rule}: "type" must be '
                         "'threshold' or 'power'")
    return rule


def normalize_cams(cams: Tensor, eps: float = 1e-5) -> Tensor:
    """Rectify and max-normalise class maps.

    Args:
        cams (Tensor): ``(..., K, H, W)`` raw class activation maps.
        eps (float): Added to the maximum. Defaults to 1e-5 (IRN).

    Returns:
        Tensor: ``relu(cams) / (max_{H,W} relu(cams) + eps)``.
    """
    cams = torch.relu(cams)
    peak = cams.flatten(-2).max(dim=-1).values[..., None, None]
    return cams / (peak + eps)


def background_score(cams: Tensor, rule: Dict) -> Tensor:
    """Background score map for normalised CAMs.

    Args:
        cams (Tensor): ``(L, H, W)`` normalised maps of the image's classes;
            ``L`` may be 0 (a background-only image).
        rule (dict): See :func:`check_bg_rule`.

    Returns:
        Tensor: ``(1, H, W)`` background score.
    """
    check_bg_rule(rule)
    shape = (1, ) + tuple(cams.shape[-2:])
    if rule['type'] == 'threshold':
        return cams.new_full(shape, float(rule['thr']))
    peak = cams.max(dim=0, keepdim=True).values if cams.shape[0] else \
        cams.new_zeros(shape)
    return (1 - peak).clamp(min=0).pow(float(rule['alpha']))


def cams_to_probs(cams: Tensor,
                  rule: Dict,
                  bg_score: Optional[Tensor] = None) -> Tensor:
    """Stack background and class scores, normalised to sum to one.

    Used as the unary of a dense CRF.

    Args:
        cams (Tensor): ``(L, H, W)`` normalised CAMs.
        rule (dict): Background rule.
        bg_score (Tensor, optional): A precomputed ``(1, H, W)`` background
            (e.g. a refiner's own) used instead of the rule's.

    Returns:
        Tensor: ``(L + 1, H, W)``; channel 0 is the background.
    """
    if bg_score is None:
        bg_score = background_score(cams, rule)
    scores = torch.cat([bg_score, cams], dim=0)
    scores = scores.clamp(min=1e-5)
    return scores / scores.sum(dim=0, keepdim=True)


def channel_argmax(scores: Tensor) -> Tensor:
    """``scores.argmax(dim=0)``, faster for a few channels on the CPU.

    The first maximal channel wins, as in ``torch.argmax``; the result is
    the same index for index. PyTorch's CPU argmax over the leading
    dimension of a ``(C, H, W)`` tensor does not vectorise (milliseconds
    for two 96 x 96 maps); a running maximum over the channels does. Maps
    with a NaN go through ``torch.argmax`` (NaN counts as the maximum).

    Args:
        scores (Tensor): ``(C, ...)`` with ``C >= 1``.

    Returns:
        Tensor: ``(...)`` int64 channel indices.
    """
    if scores.shape[0] > 8 or scores.is_cuda or torch.isnan(scores).any():
        return scores.argmax(dim=0)
    best = scores[0].clone()
    index = torch.zeros(scores.shape[1:], dtype=torch.int64,
                        device=scores.device)
    for k in range(1, scores.shape[0]):
        better = scores[k] > best  # strict: the first maximum stays
        index[better] = k
        best = torch.where(better, scores[k], best)
    return index


def cams_to_label(cams: Tensor,
                  labels: Tensor,
                  rule: Dict,
                  bg_score: Optional[Tensor] = None) -> Tensor:
    """Label map of normalised CAMs.

    Args:
        cams (Tensor): ``(L, H, W)`` normalised CAMs.
        labels (Tensor): ``(L, )`` segmentation class index of each map.
        rule (dict): Background rule.
        bg_score (Tensor, optional): Precomputed background score.

    Returns:
        Tensor: ``(H, W)`` int64 label map (0 = background).
    """
    if bg_score is None:
        bg_score = background_score(cams, rule)
    idx = channel_argmax(torch.cat([bg_score, cams], dim=0))
    lut = torch.cat([labels.new_zeros(1), labels.to(torch.int64)])
    return lut[idx]


def power_to_threshold(alpha: float, iters: int = 60) -> float:
    """The threshold ``t`` equivalent to the power rule: ``t = (1 - t)^alpha``.

    Args:
        alpha (float): Exponent, > 0.
        iters (int): Bisection steps. Defaults to 60.

    Returns:
        float: ``t`` in ``(0, 1)``.
    """
    lo, hi = 0.0, 1.0
    for _ in range(iters):
        mid = (lo + hi) / 2
        if mid < (1 - mid)**alpha:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
