# Copyright (c) OpenMMLab. All rights reserved.
"""The DeepLab-v2 ASPP decode head (branch logits summed)."""
from typing import Sequence, Union

import torch.nn as nn
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.utils.typing_utils import OptMultiConfig

__all__ = ['DeepLabV2Head']


def _overrides_conv_seg(init_cfg: OptMultiConfig) -> bool:
    """Whether an ``init_cfg`` names ``conv_seg`` in an ``override``."""
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    for cfg in cfgs:
        if not isinstance(cfg, dict):
            continue
        override = cfg.get('override')
        overrides = override if isinstance(override,
                                           (list, tuple)) else [override]
        if any(
                isinstance(o, dict) and o.get('name') == 'conv_seg'
                for o in overrides):
            return True
    return False


@MODELS.register_module()
class DeepLabV2Head(BaseDecodeHead):
    """Atrous spatial pyramid pooling head of `DeepLab-v2
    <https://arxiv.org/abs/1606.00915>`_ (Chen et al., TPAMI 2017).

    Parallel 3x3 atrous convolutions with rates ``r`` in ``dilations``
    (ASPP-L: 6, 12, 18, 24) read the last backbone feature ``x`` and each
    maps it *directly* to class logits; the branch outputs are summed::

        y = sum_{r in dilations} (W_r *_r x + b_r)

    where ``*_r`` is a 3x3 convolution with dilation ``r`` and zero padding
    ``r``, so ``y`` keeps the spatial size of ``x``. This is the ASPP of the
    paper (Fig. 4 / 7, "fused by sum") and of the reference PyTorch port
    (kazuto1011/deeplab-pytorch ``libs/models/deeplabv2.py`` ``_ASPP``),
    not mmseg's DeepLab-v3 ``ASPPHead`` (which concatenates feature branches
    with image pooling and adds BN and a fusion conv).

    Since the branches already produce logits, there is no separate
    ``conv_seg``: the attribute created by :class:`BaseDecodeHead` is
    deleted and :meth:`cls_seg` applies the summed branches instead. The
    branches are initialised like the reference, ``W_r ~ N(0, 0.01^2)`` and
    ``b_r = 0``, through ``init_cfg`` overriding ``aspp``; an ``init_cfg``
    that overrides ``conv_seg`` (the :class:`BaseDecodeHead` default) is
    rejected because this head has no such layer.

    Args:
        in_channels (int): Channels of the input feature (2048 for
            ResNet-101).
        num_classes (int): Number of segmentation classes.
        dilations (Sequence[int]): Atrous rates of the branches.
            Defaults to (6, 12, 18, 24).
        dropout_ratio (float): Ratio of the ``Dropout2d`` applied to the
            input feature before the branches (training only). DeepLab-v2 on
            ResNet has no dropout there, so it defaults to 0 (no layer).
        init_cfg (dict | list[dict], optional): Defaults to a normal init
            with std 0.01 and bias 0 of the ``aspp`` branches.
        **kwargs: Other :class:`BaseDecodeHead` arguments (``loss_decode``,
            ``ignore_index``, ``align_corners``, ``in_index``,
            ``input_transform`` other than ``'multiple_select'``, ...).
            ``channels`` is fixed to ``in_channels`` and must not be given.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 dropout_ratio: float = 0.0,
                 init_cfg: OptMultiConfig = dict(
                     type='Normal',
                     std=0.01,
                     bias=0,
                     override=dict(name='aspp')),
                 **kwargs) -> None:
        if 'channels' in kwargs:
            raise TypeError(
                'DeepLabV2Head has no hidden layer: do not pass "channels" '
                '(the ASPP branches map in_channels to the class logits)')
        if len(dilations) == 0:
            raise ValueError('DeepLabV2Head needs at least one dilation')
        if _overrides_conv_seg(init_cfg):
            raise ValueError(
                'DeepLabV2Head has no conv_seg (its ASPP branches produce '
                'the logits): override "aspp" in init_cfg instead')
        if kwargs.get('input_transform') == 'multiple_select':
            raise ValueError(
                'DeepLabV2Head reads a single feature map; '
                'input_transform="multiple_select" is not supported')
        super().__init__(
            in_channels,
            in_channels,
            num_classes=num_classes,
            dropout_ratio=dropout_ratio,
            init_cfg=init_cfg,
            **kwargs)
        # The branches produce the logits: BaseDecodeHead's 1x1 classifier
        # is not part of this model (and not in its state dict).
        del self.conv_seg
        self.dilations = tuple(int(d) for d in dilations)
        self.aspp = nn.ModuleList(
            nn.Conv2d(
                self.in_channels,
                self.out_channels,
                kernel_size=3,
                padding=d,
                dilation=d,
                bias=True) for d in self.dilations)

    def cls_seg(self, feat: Tensor) -> Tensor:
        """Logits ``sum_r (W_r *_r feat + b_r)`` (after optional dropout)."""
        if self.dropout is not None:
            feat = self.dropout(feat)
        out = self.aspp[0](feat)
        for branch in self.aspp[1:]:
            out = out + branch(feat)
        return out

    def forward(self, inputs: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        """Segmentation logits ``(B, num_classes, h, w)`` at the feature
        resolution.

        Args:
            inputs (Tensor | Sequence[Tensor]): The backbone outputs (the
                one at ``in_index`` is used) or a single ``(B, C, h, w)``
                feature.
        """
        if isinstance(inputs, Tensor):
            x = inputs
        else:
            x = self._transform_inputs(inputs)
        return self.cls_seg(x)
