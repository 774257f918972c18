# Copyright (c) OpenMMLab. All rights reserved.
"""Class patterns from generic features (Luo & Yang, AAAI 2020).

"Learning Saliency-Free Model with Generic Features for Weakly-Supervised
Semantic Segmentation" (Luo & Yang, AAAI 2020) replaces a saliency detector
by the first principal component of a classifier's lower-layer features
over all images of a class. For class ``c`` with images ``I^c`` and
features ``t_u^i`` at every location ``u`` of image ``i`` (Eq. 2)::

    mean_c  = 1/K sum_i sum_u t_u^i
    Sigma_c = 1/K sum_i sum_u (t_u^i - mean_c)(t_u^i - mean_c)^T

with ``K`` the number of locations; the *class pattern* ``xi_c`` is the
eigenvector of ``Sigma_c`` with the largest eigenvalue, and a pixel's
projection ``q_c = (t_u - mean_c)^T xi_c`` (Eq. 3) is positive on the
object. Algorithm 1 of the paper turns the projections of an image's
classes into a mask: no positive ``q_c`` -> background, exactly one ->
that class, several -> uncertain (ignored in training).

No public code of the paper exists, so everything here is written from
the paper. What the paper leaves open, and what this module does:

- **Streaming.** The moments are accumulated image by image
  (:class:`ClassPatternAccumulator`): per image the mean ``m_i`` and the
  centred scatter ``(X_i - m_i)^T (X_i - m_i)`` (the only ``O(n d^2)``
  product, in the features' dtype), then per class in float64
  ``N += n_i``, ``S += n_i m_i``, ``Q += scatter_i + n_i m_i m_i^T``. At
  the end ``mean = S / N`` and ``Sigma = Q / N - mean mean^T``. Memory is
  ``O(C d^2)`` whatever the number of images; the scatter of an image is
  computed once and added to each of its classes. The sums add up across
  processes (:meth:`ClassPatternAccumulator.all_reduce`).
- **Sign.** An eigenvector is defined up to its sign, but "positive = object"
  needs one. The rule (``sign_rule='cam'``): the sign that makes the
  projection correlate positively with the class's CAM over the class's
  images, i.e. ``sign(xi^T sum_u (t_u - mean) cam_u) = sign(xi^T (G -
  mean W))`` with ``G = sum_u cam_u t_u`` and ``W = sum_u cam_u``
  accumulated in the same pass (``O(d)`` per class). ``'none'`` keeps
  :func:`torch.linalg.eigh`'s arbitrary sign (for ablations only).
"""
import warnings
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor

__all__ = [
    'ClassPatternAccumulator', 'class_pattern_projections',
    'class_pattern_mask', 'leading_eigenpairs'
]

SIGN_RULES = ('cam', 'none')


class ClassPatternAccumulator:
    """Streaming per-class mean, covariance and CAM moments of features.

    Args:
        num_classes (int): Number of foreground classes ``C``; class ``k``
            (0-based here) is segmentation class ``k + 1``.
        dim (int): Feature dimension ``d``.
        device (str | torch.device): Where the float64 sums live. Defaults
            to 'cpu'.
    """

    def __init__(self,
                 num_classes: int,
                 dim: int,
                 device='cpu') -> None:
        if num_classes < 1 or dim < 1:
            raise ValueError('num_classes and dim must be positive, got '
                             f'{num_classes} and {dim}')
        self.num_classes = int(num_classes)
        self.dim = int(dim)
        f64 = dict(dtype=torch.float64, device=device)
        self.count = torch.zeros(num_classes, **f64)
        self.num_images = torch.zeros(num_classes, **f64)
        self.sum = torch.zeros(num_classes, dim, **f64)
        self.sq = torch.zeros(num_classes, dim, dim, **f64)
        self.cam_sum = torch.zeros(num_classes, **f64)
        self.cam_feat = torch.zeros(num_classes, dim, **f64)

    def update(self,
               feats: Tensor,
               classes: Sequence[int],
               cams: Optional[Tensor] = None) -> None:
        """Add one image.

        Args:
            feats (Tensor): ``(d, h, w)`` or ``(n, d)`` features of its
                valid locations (no padding).
            classes (Sequence[int]): 0-based foreground classes the image
                counts for.
            cams (Tensor, optional): ``(len(classes), h, w)`` or
                ``(len(classes), n)`` non-negative CAMs of those classes at
                the feature locations, for the sign rule.
        """
        if feats.dim() == 3:
            if feats.shape[0] != self.dim:
                raise ValueError(f'features have {feats.shape[0]} channels, '
                                 f'the accumulator {self.dim}')
            feats = feats.flatten(1).t()
        if feats.dim() != 2 or feats.shape[1] != self.dim:
            raise ValueError(f'features must be (d, h, w) or (n, {self.dim})'
                             f', got {tuple(feats.shape)}')
        classes = [int(c) for c in classes]
        bad = [c for c in classes if not 0 <= c < self.num_classes]
        if bad:
            raise ValueError(f'classes {bad} out of range [0, '
                             f'{self.num_classes})')
        n = feats.shape[0]
        if not classes or n == 0:
            return
        dev = self.sum.device
        mean_i = feats.mean(0, dtype=torch.float64)
        centred = feats - mean_i.to(feats.dtype)
        # the one O(n d^2) product, in the features' dtype
        second = (centred.t() @ centred).to(device=dev, dtype=torch.float64)
        mean_i = mean_i.to(dev)
        second.add_(torch.outer(mean_i, mean_i), alpha=n)
        if cams is not None:
            cams = cams.reshape(len(classes), -1)
            if cams.shape[1] != n:
                raise ValueError(f'cams have {cams.shape[1]} locations, the '
                                 f'features {n}')
            cams = cams.to(feats.dtype)
            cam_sum = cams.sum(1).to(device=dev, dtype=torch.float64)
            cam_feat = (cams @ feats).to(device=dev, dtype=torch.float64)
        # in-place adds per class (an expanded index_add_ is 4x slower)
        for j, c in enumerate(classes):
            self.count[c] += n
            self.num_images[c] += 1
            self.sum[c].add_(mean_i, alpha=n)
            self.sq[c].add_(second)
            if cams is not None:
                self.cam_sum[c] += cam_sum[j]
                self.cam_feat[c].add_(cam_feat[j])

    def merge(self, other: 'ClassPatternAccumulator') -> None:
        """Add the sums of another accumulator (e.g. another shard)."""
        for name in self._STATE:
            getattr(self, name).add_(getattr(other, name).to(self.sum.device))

    def all_reduce(self) -> None:
        """Sum the accumulators of all processes (no-op when not distributed).

        Each tensor is moved to the device of the process group's backend
        (GPU for NCCL) for the reduction and back.
        """
        from mmengine import dist
        if dist.get_world_size() == 1:
            return
        device = dist.get_comm_device()
        for name in self._STATE:
            value = getattr(self, name)
            moved = value.to(device)
            dist.all_reduce(moved, op='sum')
            value.copy_(moved.to(value.device))

    _STATE = ('count', 'num_images', 'sum', 'sq', 'cam_sum', 'cam_feat')

    def state_dict(self) -> Dict[str, Tensor]:
        """The raw sums."""
        return {name: getattr(self, name) for name in self._STATE}

    # ------------------------------------------------------------------
    def mean(self) -> Tensor:
        """``(C, d)`` per-class means (NaN rows for classes without data)."""
        return self.sum / self.count[:, None]

    def covariance(self, cls: Optional[int] = None) -> Tensor:
        """Per-class (population) covariances, Eq. 2.

        Args:
            cls (int, optional): One class (``(d, d)``, computed without
                touching the others: the finalisation of a pass with 80
                classes at d=2048 then needs one extra ``d x d`` matrix,
                not five copies of all of them). Defaults to None (all,
                ``(C, d, d)``).
        """
        if cls is None:
            return torch.stack(
                [self.covariance(c) for c in range(self.num_classes)])
        mean = self.sum[cls] / self.count[cls]
        cov = self.sq[cls] / self.count[cls]
        cov.sub_(torch.outer(mean, mean))
        return (cov + cov.t()).mul_(0.5)

    def patterns(self, sign_rule: str = 'cam') -> Dict[str, Tensor]:
        """Class patterns: leading eigenvectors with a chosen sign.

        Args:
            sign_rule (str): ``'cam'`` (see the module docstring) or
                ``'none'``. Defaults to 'cam'.

        Returns:
            dict: ``mean`` ``(C, d)``, ``pattern`` ``(C, d)`` (unit norm),
            ``eigenvalue`` ``(C,)``, ``explained`` ``(C,)`` (share of the
            variance on the first component, the paper's Fig. 3),
            ``cam_agreement`` ``(C,)`` (the projection-CAM covariance after
            the sign choice: positive unless no CAM reached the class),
            ``count`` ``(C,)`` locations and ``num_images`` ``(C,)``, all
            float64 on the CPU. A class without images has NaN rows and a
            ``count`` of 0.
        """
        if sign_rule not in SIGN_RULES:
            raise ValueError(f'sign_rule must be one of {SIGN_RULES}, got '
                             f'{sign_rule!r}')
        mean = self.mean().cpu()
        count = self.count.cpu()
        c, d = self.num_classes, self.dim
        pattern = torch.full((c, d), float('nan'), dtype=torch.float64)
        eigval = torch.full((c, ), float('nan'), dtype=torch.float64)
        explained = torch.full((c, ), float('nan'), dtype=torch.float64)
        agreement = torch.zeros(c, dtype=torch.float64)
        valid = count > 0
        if valid.any():
            # one class at a time: peak memory is the sums plus one matrix
            tops, vecs, traces = [], [], []
            for k in torch.nonzero(valid).flatten().tolist():
                cov = self.covariance(k).cpu()
                top, vec = leading_eigenpairs(cov[None])
                tops.append(top[0])
                vecs.append(vec[0])
                traces.append(torch.diagonal(cov).sum())
                del cov
            top, vec = torch.stack(tops), torch.stack(vecs)
            eigval[valid] = top
            explained[valid] = top / torch.stack(traces).clamp(min=1e-300)
            # deterministic canonical sign first (largest |entry| positive),
            # so that 'none' and ties do not depend on the LAPACK build
            pick = vec.abs().argmax(-1, keepdim=True)
            vec = vec * torch.sign(vec.gather(-1, pick))
            cov_cam = self.cam_feat.cpu()[valid] - \
                mean[valid] * self.cam_sum.cpu()[valid, None]
            agree = (vec * cov_cam).sum(-1)
            if sign_rule == 'cam':
                flip = torch.where(agree < 0, -1.0, 1.0).to(vec)
                vec = vec * flip[:, None]
                agree = agree * flip
                no_cam = (self.cam_sum.cpu()[valid] <= 0)
                if no_cam.any():
                    warnings.warn(
                        f'{int(no_cam.sum())} class(es) had no CAM mass; '
                        'their pattern keeps the canonical sign')
            pattern[valid] = vec
            agreement[valid] = agree
        return dict(
            mean=mean,
            pattern=pattern,
            eigenvalue=eigval,
            explained=explained,
            cam_agreement=agreement,
            count=count,
            num_images=self.num_images.cpu())


def leading_eigenpairs(cov: Tensor,
                       full_below: int = 256,
                       block: int = 4,
                       max_iters: int = 500,
                       tol: float = 1e-12):
    """Largest eigenvalue and its eigenvector of symmetric matrices.

    Only the leading pair is needed, so for ``d > full_below`` a block
    (subspace) iteration with Rayleigh-Ritz replaces the full ``O(d^3)``
    :func:`torch.linalg.eigh` (2.7 s per 2048 x 2048 matrix on one CPU
    thread, i.e. a minute for VOC's 20 classes at ResNet-101's C4_1): the
    top Ritz vector converges at the rate ``lambda_{block+1} / lambda_1``
    even when the first two eigenvalues are close. Iteration stops when
    every residual ``||C v - lambda v||`` is below ``tol * ||C||_F``;
    matrices that have not converged after ``max_iters`` fall back to
    ``eigh``.

    Args:
        cov (Tensor): ``(B, d, d)`` symmetric matrices.
        full_below (int): Use ``eigh`` when ``d <= full_below``.
            Defaults to 256.
        block (int): Subspace size. Defaults to 4.
        max_iters (int): Defaults to 500.
        tol (float): Relative residual tolerance. Defaults to 1e-12.

    Returns:
        tuple[Tensor, Tensor]: ``(B,)`` eigenvalues and ``(B, d)`` unit
        eigenvectors (sign arbitrary).
    """
    d = cov.shape[-1]
    if d <= full_below:
        vals, vecs = torch.linalg.eigh(cov)
        return vals[..., -1], vecs[..., -1]
    k = min(block, d)
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(d, k, generator=gen, dtype=cov.dtype).to(cov.device)
    q = torch.linalg.qr(q.expand(cov.shape[0], d, k))[0]
    scale = torch.linalg.matrix_norm(cov).clamp(min=1e-300)
    top = vec = None
    for _ in range(max_iters):
        q = torch.linalg.qr(cov @ q)[0]
        small = q.transpose(1, 2) @ cov @ q
        w, s = torch.linalg.eigh((small + small.transpose(1, 2)) / 2)
        q = q @ s
        top, vec = w[:, -1], q[:, :, -1]
        resid = torch.linalg.vector_norm(
            (cov @ vec[..., None])[..., 0] - top[:, None] * vec, dim=-1)
        if (resid <= tol * scale).all():
            return top, vec
    bad = resid > tol * scale
    vals, vecs = torch.linalg.eigh(cov[bad])
    top, vec = top.clone(), vec.clone()
    top[bad], vec[bad] = vals[..., -1], vecs[..., -1]
    return top, vec


def class_pattern_projections(feats: Tensor, means: Tensor,
                              patterns: Tensor) -> Tensor:
    """Eq. 3, ``q_c = (t_u - mean_c)^T xi_c`` for the given classes.

    Args:
        feats (Tensor): ``(d, h, w)`` features.
        means (Tensor): ``(L, d)`` class means.
        patterns (Tensor): ``(L, d)`` class patterns.

    Returns:
        Tensor: ``(L, h, w)`` projections, in the features' dtype.
    """
    means = means.to(feats)
    patterns = patterns.to(feats)
    d, h, w = feats.shape
    q = patterns @ feats.reshape(d, h * w) - (patterns * means).sum(
        -1, keepdim=True)
    return q.reshape(-1, h, w)


def class_pattern_mask(projections: Tensor,
                       labels: Tensor,
                       ignore_index: int = 255,
                       margin: float = 0.0) -> Tensor:
    """Algorithm 1 of Luo & Yang: a mask from per-class projections.

    For every pixel, ``s`` = the number of the image's classes with
    ``q_c > margin``: ``s == 0`` -> background (0), ``s == 1`` -> that class,
    ``s >= 2`` -> ``ignore_index`` (uncertain).

    Args:
        projections (Tensor): ``(L, H, W)`` projections ``q_c``.
        labels (Tensor): ``(L,)`` segmentation class index of each map.
        ignore_index (int): Label of uncertain pixels. Defaults to 255.
        margin (float): The decision boundary; the paper uses the origin.
            Defaults to 0.0.

    Returns:
        Tensor: ``(H, W)`` int64 mask.
    """
    if projections.dim() != 3 or projections.shape[0] != len(labels):
        raise ValueError(f'projections {tuple(projections.shape)} do not '
                         f'match {len(labels)} labels')
    positive = projections > margin
    hits = positive.sum(0)
    out = torch.zeros(projections.shape[1:], dtype=torch.int64,
                      device=projections.device)
    if len(labels):
        which = positive.to(torch.uint8).argmax(0)
        lbl = labels.to(device=projections.device, dtype=torch.int64)
        out = torch.where(hits == 1, lbl[which], out)
        out[hits >= 2] = ignore_index
    return out
