# Copyright (c) OpenMMLab. All rights reserved.
"""SPML's embedding head and its softmax classifier.

Ke et al., "Universal Weakly Supervised Segmentation by Pixel-to-Segment
Contrastive Learning" (SPML, ICLR 2021, https://arxiv.org/abs/2105.00957).
The reference code (``twke18/SPML``, ``spml/models/embeddings/
resnet_deeplab.py``, ``heads/spp.py``) puts a DeepLab-v2 ASPP-*sum* on the
ResNet-101's stride-8 output: four 3x3 convs to ``D`` (dilations 6 / 12 /
18 / 24, with bias, no BN / ReLU), summed, then bilinear x2 (embeddings at
stride 4) and L2-normalised (method notes 3.1). Its softmax classifier
(``segsort_softmax.py``) is a small head on the *detached* embedding:
Conv3x3 D->128 (no bias), BN, ReLU, Dropout, Conv1x1 -> classes; it never
changes the embedding (notes 3.4).
"""
from typing import List, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.registry import MODELS
from torch import Tensor

__all__ = ['SPMLEmbeddingHead', 'SPMLSoftmaxHead']


@MODELS.register_module()
class SPMLEmbeddingHead(nn.Module):
    """Pixel embeddings of `SPML <https://arxiv.org/abs/2105.00957>`_.

    .. code:: text

        x = feats[in_index]                      backbone output (stride 8)
        e = sum_d conv3x3_d(x)                   ASPP-sum, one per dilation
        e = upsample(e, x scale_factor)          bilinear (code: x2)
        e = e / |e|                              unit embeddings (optional)

    The coordinates of SPML's ``e_loc`` are *not* appended here:
    :class:`~mmwsss.models.PixelToSegmentContrastiveLoss` appends them
    itself (``use_location=True``).

    Args:
        in_channels (int): Channels of the backbone output.
        embed_dims (int): Embedding dimension ``D``. Defaults to 64 (VOC;
            32 on DensePose).
        dilations (Sequence[int]): Dilations of the summed 3x3 convs.
            Defaults to (6, 12, 18, 24) (the code's ASPP). ``(1, )`` is a
            single 3x3 conv (small CPU models).
        scale_factor (float): Bilinear upsampling of the embeddings.
            Defaults to 2 (code: stride 8 -> 4).
        normalize (bool): L2-normalise the output. Defaults to True.
        in_index (int): The backbone output used. Defaults to -1.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int = 64,
                 dilations: Sequence[int] = (6, 12, 18, 24),
                 scale_factor: float = 2.0,
                 normalize: bool = True,
                 in_index: int = -1) -> None:
        super().__init__()
        if not dilations:
            raise ValueError('SPMLEmbeddingHead: dilations must not be empty')
        self.in_channels = int(in_channels)
        self.embed_dims = int(embed_dims)
        self.scale_factor = float(scale_factor)
        self.normalize = bool(normalize)
        self.in_index = int(in_index)
        self.aspp = nn.ModuleList([
            nn.Conv2d(in_channels, embed_dims, 3, padding=d, dilation=d)
            for d in dilations
        ])
        for conv in self.aspp:  # DeepLab-v2's classifier initialisation
            nn.init.normal_(conv.weight, 0, 0.01)
            nn.init.zeros_(conv.bias)

    def forward(self, feats: Union[Tensor, List[Tensor]]) -> Tensor:
        """``(B, D, h, w)`` embeddings of the backbone features."""
        x = feats if torch.is_tensor(feats) else feats[self.in_index]
        e = sum(conv(x) for conv in self.aspp)
        if self.scale_factor != 1:
            e = F.interpolate(
                e,
                scale_factor=self.scale_factor,
                mode='bilinear',
                align_corners=False)
        return F.normalize(e, dim=1) if self.normalize else e


@MODELS.register_module()
class SPMLSoftmaxHead(nn.Module):
    """SPML's softmax classifier on (detached) embeddings.

    Conv3x3 ``D -> channels`` (no bias), BN, ReLU, Dropout, Conv1x1 ->
    ``num_classes`` (``segsort_softmax.py``). Trained with a cross-entropy
    that ignores every value outside ``[0, num_classes)`` (SPML's
    unlabelled 254 and the not-in-image 255).

    Args:
        embed_dims (int): Embedding dimension. Defaults to 64.
        num_classes (int): Classes with background. Defaults to 21.
        channels (int): Hidden channels. Defaults to 128 (code).
        dropout_ratio (float): Defaults to 0.75 (method notes 3.4; the
            second-stage ``train_classifier.py`` uses 0.65).
        norm_cfg (dict): Defaults to ``dict(type='BN')``.
    """

    def __init__(self,
                 embed_dims: int = 64,
                 num_classes: int = 21,
                 channels: int = 128,
                 dropout_ratio: float = 0.75,
                 norm_cfg: dict = dict(type='BN')) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.conv = ConvModule(
            embed_dims,
            channels,
            3,
            padding=1,
            bias=False,
            norm_cfg=norm_cfg,
            act_cfg=dict(type='ReLU'))
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio > 0 \
            else nn.Identity()
        self.cls = nn.Conv2d(channels, num_classes, 1)

    def forward(self, embeddings: Tensor) -> Tensor:
        """``(B, num_classes, h, w)`` logits."""
        return self.cls(self.dropout(self.conv(embeddings)))

    def loss(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Cross-entropy against ``(B, h, w)`` labels at the embedding size.

        Values outside ``[0, num_classes)`` are ignored; a batch without a
        labelled pixel gives a zero loss that still reaches every
        parameter (no NaN).
        """
        logits = self(embeddings)
        labels = labels.long()
        labels = torch.where((labels >= 0) & (labels < self.num_classes),
                             labels, torch.full_like(labels, 255))
        if not bool((labels != 255).any()):
            return logits.sum() * 0.0
        return F.cross_entropy(logits.float(), labels, ignore_index=255)
