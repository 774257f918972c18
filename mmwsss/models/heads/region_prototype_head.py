# Copyright (c) OpenMMLab. All rights reserved.
"""The classification head of RPNet (region prototypes and consistency)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import NonLocal2d
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.utils.typing_utils import ConfigType, OptMultiConfig, SampleList
from ..utils.region_prototype import RegionPrototypeModule
from .cam_head import CAMHead

__all__ = ['RegionPrototypeHead']


@MODELS.register_module()
class RegionPrototypeHead(CAMHead):
    """CAM head of RPNet, "Cross-Image Region Mining with Region
    Prototypical Network for Weakly Supervised Segmentation" (Liu et al.,
    https://arxiv.org/abs/2108.07413; code
    ``liuweide01/RPNet-Weakly-Supervised-Segmentation``).

    .. code:: text

        feats (backbone levels) ─┬─ in_index ─ reduce ─ f_N ─ [attn] ─ cls ─ A
                                 │                       │ (original branch:
                                 │                       │  forward, inference)
                                 └─ levels ─ [reduce] ─ resize to f_N grid
                                          │
               RegionPrototypeModule(levels, f_N, group_id) = G(F_hat)
                                          │
               f'_N = G(F_hat) * f_N ─ [attn'] ─ cls ─ A'   (enhanced branch,
                                                             training only)

        L = L_cls(gap(A), y) [+ L_cls(gap(A'), y)] + lambda * L_s

    :meth:`forward` and :meth:`localization_maps` are the original branch
    alone, so :class:`~mmwsss.models.CAMSegmentor` infers CAMs exactly as
    with :class:`CAMHead`, without a reference image (as the code's
    ``CAM.forward``). The enhanced branch and ``L_s``
    (:class:`~mmwsss.models.PrototypeConsistencyLoss`) exist only in
    :meth:`loss`.

    **Groups.** A training batch is a flattened list of image groups (pairs
    in the paper and code). A sample's metainfo may carry ``group_id`` (an
    int shared by the images of one group) and ``group_role`` ('query' or
    'reference', ignored here: all images of a group are treated alike);
    a sample without ``group_id`` is a group of its own. Prototypes are
    taken from every image of the image's group (``prototype_cfg.scope``).
    The classification losses run on every image of the batch with its own
    ``gt_score``, references included (code: ``y_q`` and ``y_r``).

    **Paper vs reference code** (default: paper where it is explicit):

    ========================  =======================  ====================
    option                    paper                    code
    ========================  =======================  ====================
    ``levels``                blocks 2 + 4 (Tab. IV)   layer2 + layer4
    ``channels``              256, 1x1 conv (eq. 3)    512, 1x1 conv
    ``reduce_levels``         'all' levels (eq. 3)     'cam' only (layer2
                                                       raw)
    mask ``mask_source``      'per_level' (eq. 6)      'last' (layer4 mask
                                                       for both levels)
    ``thr`` / ``inclusive``   0.3, ``>``               0.3, ``>=``
    ``drop_prob``             0.5                      0.5
    ``drop_mode``             'replace' (eq. 6)        'add' (full+dropped)
    ``compare_to``            'last': all vs f_N       'same': level l vs
                              (eq. 7)                  level l
    ``scope``                 'group' (pairs; 1-4      'group' (pairs)
                              images, Tab. VII)
    ``rescale``               None                     1.3 (after max-norm)
    Gaussian                  sigma 3 (size not given) 5x5, sigma 3, sum 1
    ``attention_cfg``         None (not described)     NonLocal dot-product
                                                       on both branches
    ``loss_enhanced_cls``     on (avg-pool + 1x1 cls,  None (only L_s
                              L_c on f'_N)             trains the branch)
    ``loss_consistency``      'feature', sum of sq.    'cam', MSE of
                              diff. (eq. 13), 10       N(A), N(A'), 10
    ``align_corners``         not given                True (upsample)
    ========================  =======================  ====================

    The classification loss on the original branch is always on (the
    paper's "standard multi-label classification loss", the code's only
    one); the Gaussian kernel is 5x5 by default (the paper's eq. 9 gives
    only sigma). Not reproduced: the code's separate heads for the
    reference image (``self_atten_y``, ``classifiery``; here one head for
    all images), its 4-scale no-grad average of the enhanced maps, the
    ``detach`` of layer2 (use the backbone's ``frozen_stages=2``), the
    paper's division of ``f_n`` by its maximum before the 1x1 conv (eq. 3)
    and the ``+1e-5`` / ``+5e-4`` constants (see
    :mod:`mmwsss.models.utils.region_prototype` for the guards).

    Args:
        in_channels (int | Sequence[int]): Channels of each backbone output
            the head receives (one int for a single output).
        num_classes (int): Number of foreground classes ``K``.
        in_index (int): The backbone output of the CAM level ``f_N``.
            Defaults to -1.
        levels (Sequence[int], optional): The backbone outputs that give
            prototypes (indices into the head's inputs, like ``in_index``).
            Defaults to None: every input (the backbone's ``out_indices``
            choose the blocks; e.g. ``(1, 3)`` for blocks 2 and 4).
        channels (int, optional): Output channels of the bias-free 1x1
            reduction (no BN, no ReLU, as the code's ``downsample``); None
            for none. Defaults to 256 (paper).
        reduce_levels (str): 'all' (every level has its own reduction) or
            'cam' (only ``f_N``; other levels raw). Defaults to 'all'.
        attention_cfg (dict, optional): Keyword arguments of mmcv
            ``NonLocal2d`` for a self-attention block on each branch (code:
            ``dict(mode='dot_product', reduction=2,
            norm_cfg=dict(type='BN'), zeros_init=True)``). Defaults to None.
        prototype_cfg (dict, optional): Keyword arguments of
            :class:`~mmwsss.models.utils.RegionPrototypeModule` (threshold,
            dropping, mask source, comparison, scope, rescale, Gaussian).
            Defaults to None (its defaults, the paper's).
        align_corners (bool): Of the bilinear resize of the other levels to
            the grid of ``f_N``. Defaults to True (code).
        dropout_ratio (float): Dropout before the classifier (both
            branches). Defaults to 0.
        loss_cls (dict): Classification loss of the original branch.
            Defaults to the sigmoid ``CrossEntropyLoss`` (multi-label soft
            margin), as :class:`CAMHead`.
        loss_enhanced_cls (dict, optional): Classification loss of the
            enhanced branch (same classifier); None for none (code).
            Defaults to the same loss named 'loss_cls_enh' (paper).
        loss_consistency (dict): Defaults to
            ``dict(type='PrototypeConsistencyLoss', mode='feature',
            reduction='sum', loss_weight=10.0)`` (paper eq. 13; the code:
            ``mode='cam', reduction='mean'``). In 'feature' mode the compared
            tensors are the classifier inputs of the two branches (``f_N``
            and ``f'_N`` without attention).
        init_cfg (dict, optional): Defaults to a normal init (std 0.01) of
            the classifier; the reductions keep PyTorch's default init (as
            the code), the attention blocks mmcv's.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 num_classes: int,
                 in_index: int = -1,
                 levels: Optional[Sequence[int]] = None,
                 channels: Optional[int] = 256,
                 reduce_levels: str = 'all',
                 attention_cfg: Optional[dict] = None,
                 prototype_cfg: Optional[dict] = None,
                 align_corners: bool = True,
                 dropout_ratio: float = 0.0,
                 loss_cls: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     avg_non_ignore=True,
                     loss_weight=1.0,
                     loss_name='loss_cls'),
                 loss_enhanced_cls: Optional[ConfigType] = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     avg_non_ignore=True,
                     loss_weight=1.0,
                     loss_name='loss_cls_enh'),
                 loss_consistency: ConfigType = dict(
                     type='PrototypeConsistencyLoss',
                     mode='feature',
                     reduction='sum',
                     loss_weight=10.0),
                 init_cfg: OptMultiConfig = dict(
                     type='Normal', std=0.01,
                     override=dict(name='classifier'))) -> None:
        all_channels = [in_channels] if isinstance(in_channels, int) \
            else list(in_channels)
        num_inputs = len(all_channels)
        if not -num_inputs <= in_index < num_inputs:
            raise ValueError(f'RegionPrototypeHead: in_index {in_index} out '
                             f'of range for {num_inputs} inputs')
        cam_index = in_index % num_inputs
        if levels is None:
            levels = range(num_inputs)
        levels = [int(i) for i in levels]
        if not levels or any(not -num_inputs <= i < num_inputs
                             for i in levels):
            raise ValueError(f'RegionPrototypeHead: levels {levels} must be '
                             f'a non-empty list of indices of the '
                             f'{num_inputs} inputs')
        if reduce_levels not in ('all', 'cam'):
            raise ValueError("RegionPrototypeHead: reduce_levels must be "
                             f"'all' or 'cam', got {reduce_levels!r}")
        cam_channels = channels or all_channels[cam_index]
        super().__init__(
            in_channels=cam_channels,
            num_classes=num_classes,
            in_index=cam_index,
            dropout_ratio=dropout_ratio,
            loss_cls=loss_cls,
            init_cfg=init_cfg)
        self.in_channels = in_channels
        self.channels = channels
        self.levels = [i % num_inputs for i in levels]
        self.reduce_levels = reduce_levels
        self.align_corners = align_corners
        self.reduce = nn.Conv2d(all_channels[cam_index], channels, 1,
                                bias=False) if channels else nn.Identity()
        self.level_reduce = nn.ModuleDict()
        if channels and reduce_levels == 'all':
            for i in self.levels:
                if i != cam_index:
                    self.level_reduce[str(i)] = nn.Conv2d(
                        all_channels[i], channels, 1, bias=False)
        if attention_cfg is not None:
            self.attention = NonLocal2d(cam_channels, **attention_cfg)
            self.enhanced_attention = NonLocal2d(cam_channels,
                                                 **attention_cfg)
        else:
            self.attention = nn.Identity()
            self.enhanced_attention = nn.Identity()
        self.prototype = RegionPrototypeModule(**(prototype_cfg or {}))
        self.loss_enhanced_cls = None
        if loss_enhanced_cls is not None:
            self.loss_enhanced_cls = MODELS.build(loss_enhanced_cls) \
                if isinstance(loss_enhanced_cls, dict) else loss_enhanced_cls
        self.loss_consistency = MODELS.build(loss_consistency) \
            if isinstance(loss_consistency, dict) else loss_consistency

    def _inputs(self, feats: Union[Tensor, Sequence[Tensor]]) -> List[Tensor]:
        return [feats] if isinstance(feats, Tensor) else list(feats)

    def cam_features(self, feats: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        """``f_N``: the CAM-level input after the reduction."""
        return self.reduce(self._inputs(feats)[self.in_index])

    def level_features(self, feats: Union[Tensor, Sequence[Tensor]],
                       f_n: Tensor) -> List[Tensor]:
        """Features of each prototype level on the grid of ``f_N``."""
        inputs = self._inputs(feats)
        out = []
        for i in self.levels:
            if i == self.in_index:
                out.append(f_n)
                continue
            x = inputs[i]
            if str(i) in self.level_reduce:
                x = self.level_reduce[str(i)](x)
            if x.shape[-2:] != f_n.shape[-2:]:
                x = F.interpolate(
                    x,
                    size=f_n.shape[-2:],
                    mode='bilinear',
                    align_corners=self.align_corners)
            out.append(x)
        return out

    def forward(self, feats: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        """Class activation maps ``(B, K, h, w)`` of the original branch."""
        x = self.attention(self.cam_features(feats))
        return self.classifier(self.dropout(x))

    @staticmethod
    def group_ids(data_samples: SampleList) -> Tensor:
        """``(B, )`` group index of each sample from its ``group_id``
        metainfo; a sample without one is a group of its own."""
        index, ids = {}, []
        for i, ds in enumerate(data_samples):
            gid = ds.metainfo.get('group_id')
            key = ('solo', i) if gid is None else ('group', int(gid))
            ids.append(index.setdefault(key, len(index)))
        return torch.tensor(ids, dtype=torch.long)

    def loss(self, feats: Union[Tensor, Sequence[Tensor]],
             data_samples: SampleList) -> Dict[str, Tensor]:
        """Classification losses of both branches and ``L_s``."""
        f_n = self.cam_features(feats)
        x = self.attention(f_n)
        out = self.classifier(self.dropout(x))
        losses, target = self.classification_losses(
            self.image_logits(out), data_samples)

        groups = self.group_ids(data_samples).to(f_n.device)
        fmap = self.prototype(self.level_features(feats, f_n), f_n, groups)
        x_enh = self.enhanced_attention(fmap * f_n)
        need_cams = self.loss_enhanced_cls is not None or \
            getattr(self.loss_consistency, 'mode', 'cam') == 'cam'
        out_enh = self.classifier(self.dropout(x_enh)) if need_cams else None
        if self.loss_enhanced_cls is not None:
            losses[self.loss_enhanced_cls.loss_name] = self.loss_enhanced_cls(
                self.image_logits(out_enh), target)
        if getattr(self.loss_consistency, 'mode', 'cam') == 'cam':
            losses[self.loss_consistency.loss_name] = self.loss_consistency(
                out, out_enh, target)
        else:
            losses[self.loss_consistency.loss_name] = self.loss_consistency(
                x, x_enh)
        return losses
