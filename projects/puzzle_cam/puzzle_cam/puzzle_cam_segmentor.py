# Copyright (c) OpenMMLab. All rights reserved.
"""Puzzle-CAM: a CAM classifier regularised by matching tiled and full
class activation maps."""
import logging
from typing import Dict

import torch
from mmengine.logging import MessageHub, print_log
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.models import CAMSegmentor
from mmwsss.models.utils.cam_utils import normalize_cams
from mmwsss.utils.typing_utils import (ConfigType, OptConfigType,
                                       OptMultiConfig, SampleList)
from .puzzle_utils import (RE_LOSSES, RE_MASKS, alpha_at, merge_tiles,
                           reconstruction_loss, tile_images)

__all__ = ['PuzzleCAMSegmentor']

RE_LEVELS = ('feature', 'cam')


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@MODELS.register_module()
class PuzzleCAMSegmentor(CAMSegmentor):
    """`Puzzle-CAM <https://arxiv.org/abs/2101.11253>`_: a CAM classifier
    trained to give the same maps for an image and for its tiles.

    Training (``mode='loss'``) runs the classifier twice per batch. The
    full images give the class activation maps ``A^s`` and, pooled, the
    image logits of the classification loss ``L_cls``. The puzzle module
    cuts each image into a ``g x g`` grid (``g = 2``: the paper's four
    pieces), passes the ``g^2 B`` tiles through the same backbone and head
    as one batch and re-assembles their maps into ``A^re``, one map per
    image. The loss is (the paper's three terms; the label mask and the
    mean of ``L_re`` are the official code's, see below)::

        L_cls   = BCE(GAP(A^s), y)                    full image
        L_p-cls = BCE(GAP(A^re), y)                   merged tiles
        L_re    = mean(y * |A^s - A^re|)              reconstruction
        L       = L_cls + L_p-cls + alpha_t * L_re

    with ``BCE`` the head's multi-label loss (``cam_head.loss_cls``; the
    official ``MultiLabelSoftMarginLoss`` computes the same value) and
    ``alpha_t = min(alpha * t / (schedule * T), alpha)`` a linear ramp over
    the first ``schedule`` fraction of the ``T`` training iterations.

    Where the paper and the official code (``OFRIN/PuzzleCAM``,
    ``train_classification_with_puzzle.py``) differ, both are options and
    the defaults follow the code, with the settings of the README's
    training command (``--re_loss L1_Loss --re_loss_option masking
    --alpha 4.00 --alpha_schedule 0.50``; the script's own default alpha is
    1.0):

    - ``L_re`` is a mean, not the sum that the paper's ``||.||_1`` writes,
      and is restricted to the image's classes (``re_mask='labels'``;
      ``'none'`` keeps every class as the paper's equation does,
      ``'selection'`` is the code's other option), see
      :func:`~projects.puzzle_cam.puzzle_cam.reconstruction_loss`;
    - the maps compared are the raw head outputs before any ReLU
      (``re_level='feature'``, the code's default ``--level feature``);
      ``'cam'`` compares the max-normalised CAMs instead (``--level cam``;
      mmwsss's :func:`~mmwsss.models.normalize_cams`, whose rectification
      differs from the code's ``make_cam`` by ``1e-5``);
    - the tiles' maps are merged after the head (the code merges the
      classifier outputs; for the 1x1 convolution of
      :class:`~mmwsss.models.CAMHead` this equals merging the features).

    Both forward passes keep the network in training mode, so BatchNorm
    statistics are updated by the full batch and by the tile batch, as in
    the official code.

    The current iteration ``t`` and ``T`` are read from mmengine's
    :class:`~mmengine.logging.MessageHub` (``get_info('iter')`` and
    ``get_info('max_iters')``, set before every training iteration by the
    runner's ``RuntimeInfoHook``, and restored on ``--resume``), so no
    extra hook is needed. Outside a runner (no such info), ``alpha`` is
    used and a warning is printed once.

    Image sizes: the tiles are made equal by zero-padding the batch at the
    bottom/right to a multiple of ``grid * tile_size_divisor`` in the tile
    branch only (see :func:`~projects.puzzle_cam.puzzle_cam.tile_images`);
    the merged map is cropped back to the full map's size (see
    :func:`~projects.puzzle_cam.puzzle_cam.merge_tiles`). When
    ``tile_size_divisor`` is a multiple of the backbone's output stride the
    merged cells lie exactly on the full map's cells. Training batches of
    the shipped config are padded to multiples of 32 by the preprocessor,
    so no padding happens there.

    Prediction (``mode='predict'``, stage 2) is :class:`CAMSegmentor`'s,
    unchanged: every stage-2 tool, writer and metric works as is.

    .. code:: text

        loss(inputs, data_samples)
        ├── A^s  = cam_head(extract_feat(inputs))           (B, K, h, w)
        ├── L_cls = loss_cls(GAP(A^s), y)   (+ head's extra losses)
        ├── tiles = tile_images(inputs, g)                  (g^2 B, C, ...)
        ├── A^re = merge_tiles(cam_head(extract_feat(tiles)), size=(h, w))
        ├── L_p-cls = loss_cls(GAP(A^re), y)
        └── L_re = reconstruction_loss(A^s, A^re, y), weighted by alpha_t

    Logged: ``loss_cls``, ``loss_pcls``, ``loss_re`` (already weighted:
    ``alpha_t * L_re``, the term that enters the total), ``re_dist`` (the
    unweighted ``L_re``), ``alpha_re`` (``alpha_t``) and ``acc_cls``.

    Args:
        backbone (dict): Backbone config.
        cam_head (dict): :class:`~mmwsss.models.CAMHead` config.
        neck (dict, optional): Neck config. Defaults to None.
        data_preprocessor (dict, optional): Defaults to None.
        train_cfg (dict, optional): Unused (any key is an error).
        test_cfg (dict, optional): CAM inference settings, as for
            :class:`~mmwsss.models.CAMSegmentor`.
        grid (int): Tiles per side ``g``. Defaults to 2.
        alpha (float): Final weight of ``L_re``. Defaults to 4.0.
        alpha_schedule (float): Fraction of training over which the weight
            ramps from 0 to ``alpha``; 0 for a constant ``alpha``. Defaults
            to 0.5.
        re_loss (str): ``'l1'`` or ``'l2'``. Defaults to ``'l1'``.
        re_mask (str): ``'labels'``, ``'selection'`` or ``'none'``.
            Defaults to ``'labels'``.
        re_level (str): ``'feature'`` (raw maps) or ``'cam'`` (normalised
            CAMs). Defaults to ``'feature'``.
        pcls_weight (float): Weight of ``L_p-cls`` (relative to the head's
            loss weight). Defaults to 1.0.
        tile_size_divisor (int): Tile sides are padded to a multiple of it;
            set it to the backbone's output stride. Defaults to 8.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 backbone: ConfigType,
                 cam_head: ConfigType,
                 neck: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 grid: int = 2,
                 alpha: float = 4.0,
                 alpha_schedule: float = 0.5,
                 re_loss: str = 'l1',
                 re_mask: str = 'labels',
                 re_level: str = 'feature',
                 pcls_weight: float = 1.0,
                 tile_size_divisor: int = 8,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            backbone=backbone,
            cam_head=cam_head,
            neck=neck,
            data_preprocessor=data_preprocessor,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg)
        name = type(self).__name__
        if not _is_int(grid) or grid < 2:
            raise ValueError(f'{name}: grid must be an int >= 2, got {grid!r}')
        if not _is_int(tile_size_divisor) or tile_size_divisor < 1:
            raise ValueError(f'{name}: tile_size_divisor must be an int >= '
                             f'1, got {tile_size_divisor!r}')
        numbers = dict(
            alpha=alpha,
            alpha_schedule=alpha_schedule,
            pcls_weight=pcls_weight)
        for key, value in numbers.items():
            if not _is_number(value) or value < 0:
                raise ValueError(f'{name}: {key} must be a number >= 0, got '
                                 f'{value!r}')
        for key, value, choices in (('re_loss', re_loss, RE_LOSSES),
                                    ('re_mask', re_mask, RE_MASKS),
                                    ('re_level', re_level, RE_LEVELS)):
            if value not in choices:
                raise ValueError(f'{name}: {key} must be one of {choices}, '
                                 f'got {value!r}')
        self.grid = grid
        self.alpha = float(alpha)
        self.alpha_schedule = float(alpha_schedule)
        self.re_loss = re_loss
        self.re_mask = re_mask
        self.re_level = re_level
        self.pcls_weight = float(pcls_weight)
        self.tile_size_divisor = tile_size_divisor
        self._warned_no_iter = False

    def current_alpha(self) -> float:
        """``alpha_t`` of the running training iteration.

        Reads ``iter`` and ``max_iters`` from the current
        :class:`~mmengine.logging.MessageHub` (see the class docstring).

        Returns:
            float: The weight of ``L_re`` now.
        """
        hub = MessageHub.get_current_instance()
        iteration = hub.get_info('iter')
        max_iters = hub.get_info('max_iters')
        if self.alpha_schedule > 0 and (iteration is None or not max_iters):
            if not self._warned_no_iter:
                print_log(
                    f'{type(self).__name__}: no training iteration in the '
                    'MessageHub (not run by a runner?); the reconstruction '
                    f'loss gets its final weight alpha={self.alpha}',
                    logger='current',
                    level=logging.WARNING)
                self._warned_no_iter = True
            return self.alpha
        return alpha_at(iteration or 0, max_iters, self.alpha,
                        self.alpha_schedule)

    def _maps(self, out: Tensor) -> Tensor:
        """The maps that ``L_re`` compares, at ``re_level``."""
        maps = self.cam_head.localization_maps(out)
        return normalize_cams(maps) if self.re_level == 'cam' else maps

    def loss(self, inputs: Tensor, data_samples: SampleList) -> Dict:
        """Puzzle-CAM losses (stage 1); see the class docstring.

        Args:
            inputs (Tensor): ``(B, C, H, W)`` preprocessed images.
            data_samples (list[SegDataSample]): With ``gt_score``.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_pcls``, ``loss_re``
            (and the head's extra losses), plus ``acc_cls``, ``re_dist`` and
            ``alpha_re`` for the log.
        """
        for ds in data_samples:
            ds.set_metainfo(dict(batch_input_shape=tuple(inputs.shape[-2:])))
        head = self.cam_head
        # full images: what CAMHead.loss computes, keeping the maps
        out = head(self.extract_feat(inputs))
        logits = head.image_logits(out)
        target = head.gt_scores(data_samples).to(logits)
        if target.shape != logits.shape:
            raise ValueError(
                f'{type(head).__name__} has num_classes={head.num_classes} '
                f'but the image labels have {target.shape[-1]} entries: the '
                'model and the dataset classes disagree')
        losses = dict()
        losses[head.loss_cls.loss_name] = head.loss_cls(logits, target)
        losses.update(head.extra_losses(out, target, data_samples))
        # the puzzle module: tiles through the same network, merged back
        tiles = tile_images(inputs, self.grid, self.tile_size_divisor)
        merged = merge_tiles(
            head(self.extract_feat(tiles)), self.grid, size=out.shape[-2:])
        losses['loss_pcls'] = self.pcls_weight * head.loss_cls(
            head.image_logits(merged), target)
        re_dist = reconstruction_loss(
            self._maps(out),
            self._maps(merged),
            target,
            mask=self.re_mask,
            distance=self.re_loss)
        alpha = self.current_alpha()
        losses['loss_re'] = alpha * re_dist
        with torch.no_grad():
            losses['re_dist'] = re_dist.detach()
            losses['alpha_re'] = logits.new_tensor(alpha)
            pred = logits > 0
            losses['acc_cls'] = (pred == target.bool()).float().mean() * 100
        return losses
