# Copyright (c) OpenMMLab. All rights reserved.
"""The DeepLab-v1 LargeFOV decode head (fc6-fc7-fc8)."""
from typing import Sequence, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.utils.typing_utils import OptMultiConfig

__all__ = ['DeepLabLargeFOVHead']


@MODELS.register_module()
class DeepLabLargeFOVHead(BaseDecodeHead):
    """The LargeFOV head of `DeepLab-v1 <https://arxiv.org/abs/1412.7062>`_
    (Chen et al., ICLR 2015), the "DeepLab-LargeFOV" of many WSSS papers.

    The convolutionalised fully connected layers of the paper, on the last
    backbone feature ``x``::

        h6 = drop(relu(W6 *_r x + b6))     (fc6: 3x3, dilation r = 12)
        h7 = drop(relu(W7 h6 + b7))        (fc7: 1x1)
        y  = W8 h7 + b8                    (fc8 = ``conv_seg``: 1x1)

    ``*_r`` is a 3x3 convolution with dilation ``r`` and zero padding ``r``,
    so ``y`` keeps the spatial size of ``x``; ``drop`` is element-wise
    dropout with ratio ``dropout_ratio`` (0.5, the Caffe ``Dropout`` layers
    ``drop6``/``drop7``), active in training only. fc6/fc7 use
    ``channels`` (1024 in LargeFOV) filters.

    Args:
        in_channels (int): Channels of the input feature.
        num_classes (int): Number of segmentation classes.
        channels (int): Filters of fc6 and fc7. Defaults to 1024.
        dilation (int): Atrous rate of fc6. Defaults to 12.
        dropout_ratio (float): Dropout after fc6 and after fc7.
            Defaults to 0.5.
        init_cfg (dict | list[dict], optional): Defaults to the
            :class:`BaseDecodeHead` one: ``conv_seg`` (fc8) ~ N(0, 0.01^2)
            with zero bias, as in DeepLab; fc6 and fc7 (``ConvModule``)
            get their own Kaiming init.
        **kwargs: Other :class:`BaseDecodeHead` arguments (``conv_cfg``,
            ``norm_cfg`` (None: plain convolutions with bias, as in the
            paper), ``act_cfg``, ``loss_decode``, ``align_corners``, ...).
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 channels: int = 1024,
                 dilation: int = 12,
                 dropout_ratio: float = 0.5,
                 init_cfg: OptMultiConfig = dict(
                     type='Normal', std=0.01, override=dict(name='conv_seg')),
                 **kwargs) -> None:
        if kwargs.get('input_transform') == 'multiple_select':
            raise ValueError(
                'DeepLabLargeFOVHead reads a single feature map; '
                'input_transform="multiple_select" is not supported')
        super().__init__(
            in_channels,
            channels,
            num_classes=num_classes,
            dropout_ratio=dropout_ratio,
            init_cfg=init_cfg,
            **kwargs)
        self.dilation = int(dilation)
        self.fc6 = ConvModule(
            self.in_channels,
            self.channels,
            kernel_size=3,
            padding=self.dilation,
            dilation=self.dilation,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.fc7 = ConvModule(
            self.channels,
            self.channels,
            kernel_size=1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        # Element-wise dropout as in the Caffe prototxt (drop6, drop7)
        # instead of BaseDecodeHead's channel-wise Dropout2d; self.dropout is
        # drop7, applied by cls_seg before conv_seg (fc8).
        if dropout_ratio > 0:
            self.drop6 = nn.Dropout(dropout_ratio)
            self.dropout = nn.Dropout(dropout_ratio)
        else:
            self.drop6 = None
            self.dropout = None

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
        x = self.fc6(x)
        if self.drop6 is not None:
            x = self.drop6(x)
        x = self.fc7(x)
        return self.cls_seg(x)
