# Copyright (c) OpenMMLab. All rights reserved.
"""The class activation map (CAM) classification head."""
from typing import Dict, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.utils.typing_utils import ConfigType, OptMultiConfig, SampleList

__all__ = ['CAMHead']


@MODELS.register_module()
class CAMHead(BaseModule):
    """Class activation map head of `CAM <https://arxiv.org/abs/1512.04150>`_.

    A bias-free 1x1 convolution maps the last backbone feature ``f`` (C x h x
    w) to one map per foreground class; global average pooling turns the
    maps into image-level logits::

        M_k(x, y) = w_k^T f(x, y)                    (class activation map)
        s_k = 1 / (h w) * sum_{x, y} M_k(x, y)       (logit of class k)

    Because pooling and the 1x1 convolution are both linear, ``s_k`` equals
    the classifier applied to the pooled feature, as in the reference
    implementations (PSA ``network/resnet38_cls.py``, IRN
    ``net/resnet50_cam.py``: ``Conv2d(C, 20, 1, bias=False)`` after GAP).
    The head is trained with the multi-label soft margin loss

        L = -1/K sum_k [ y_k log sigma(s_k) + (1 - y_k) log sigma(-s_k) ]

    averaged over the batch, i.e. binary cross-entropy with logits over the
    ``K`` foreground classes; the default ``loss_cls`` is mmseg's
    ``CrossEntropyLoss(use_sigmoid=True)``, which computes exactly that.
    An image whose label vector is all zeros (background only) is legal:
    it pushes every logit down.

    Args:
        in_channels (int): Channels of the input feature.
        num_classes (int): Number of foreground classes ``K`` (background is
            not a class of the classifier).
        in_index (int): Which backbone output to use. Defaults to -1.
        dropout_ratio (float): Dropout on the feature before the classifier
            (training only). Defaults to 0.
        loss_cls (dict): Loss config; its ``loss_name`` must start with
            ``loss_``. Defaults to ``dict(type='CrossEntropyLoss',
            use_sigmoid=True, avg_non_ignore=True, loss_name='loss_cls')``
            (no target is ignored, so both averaging modes agree).
        init_cfg (dict, optional): Defaults to a normal init of the
            classifier with std 0.01.
    """

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 in_index: int = -1,
                 dropout_ratio: float = 0.0,
                 loss_cls: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     avg_non_ignore=True,
                     loss_weight=1.0,
                     loss_name='loss_cls'),
                 init_cfg: OptMultiConfig = dict(
                     type='Normal', std=0.01, layer='Conv2d')) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.in_index = in_index
        self.dropout = nn.Dropout2d(dropout_ratio) \
            if dropout_ratio > 0 else nn.Identity()
        self.classifier = nn.Conv2d(in_channels, num_classes, 1, bias=False)
        self.loss_cls = MODELS.build(loss_cls) \
            if isinstance(loss_cls, dict) else loss_cls

    def _select(self, feats: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        if isinstance(feats, Tensor):
            return feats
        return feats[self.in_index]

    def forward(self, feats: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        """Class activation maps ``(B, K, h, w)`` (before any ReLU)."""
        return self.classifier(self.dropout(self._select(feats)))

    def localization_maps(self, out: Tensor) -> Tensor:
        """The per-class maps that inference sums over scales and flips.

        For the CAM head these are the raw outputs (rectified by the
        segmentor); heads with other outputs (e.g.
        :class:`~mmwsss.models.EPSHead`) override it.

        Args:
            out (Tensor): :meth:`forward` output.

        Returns:
            Tensor: ``(B, K, h, w)`` maps of the ``K`` foreground classes.
        """
        return out

    def image_logits(self, out: Tensor) -> Tensor:
        """Image-level logits ``(B, K)`` of the foreground classes."""
        return self.pool(out)

    @staticmethod
    def pool(cams: Tensor) -> Tensor:
        """Image-level logits ``(B, K)`` from CAMs by global average pooling."""
        return cams.mean(dim=(2, 3))

    @staticmethod
    def gt_scores(data_samples: SampleList) -> Tensor:
        """Stack the multi-hot image labels ``gt_score`` of a batch."""
        try:
            return torch.stack([ds.gt_score for ds in data_samples])
        except AttributeError as e:
            raise KeyError(
                'CAMHead needs image-level labels: the data samples have no '
                '"gt_score" field (pack them with PackWSSSInputs)') from e

    def loss(self, feats: Union[Tensor, Sequence[Tensor]],
             data_samples: SampleList) -> Dict[str, Tensor]:
        """Multi-label classification loss of a batch (plus the losses of
        :meth:`extra_losses`, which subclasses add)."""
        out = self.forward(feats)
        losses, target = self.classification_losses(
            self.image_logits(out), data_samples)
        losses.update(self.extra_losses(out, target, data_samples))
        return losses

    def classification_losses(self, logits: Tensor,
                              data_samples: SampleList) -> tuple:
        """``loss_cls`` and the accuracy ``acc_cls`` of image logits.

        Args:
            logits (Tensor): ``(B, K)`` image-level logits.
            data_samples (list[SegDataSample]): The batch's samples (their
                ``gt_score``).

        Returns:
            tuple[dict[str, Tensor], Tensor]: The losses and the ``(B, K)``
            image labels.
        """
        target = self.gt_scores(data_samples).to(logits)
        if target.shape != logits.shape:
            raise ValueError(
                f'{type(self).__name__} has num_classes={self.num_classes} '
                f'but the image labels have {target.shape[-1]} entries: the '
                'model and the dataset classes disagree')
        losses = dict()
        losses[self.loss_cls.loss_name] = self.loss_cls(logits, target)
        with torch.no_grad():
            pred = logits > 0
            losses['acc_cls'] = (pred == target.bool()).float().mean() * 100
        return losses, target

    def extra_losses(self, out: Tensor, target: Tensor,
                     data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses besides the classification one; none for CAM.

        Args:
            out (Tensor): :meth:`forward` output.
            target (Tensor): ``(B, K)`` image labels.
            data_samples (list[SegDataSample]): The batch's samples.

        Returns:
            dict[str, Tensor]: Named losses.
        """
        return dict()

    def predict_scores(self, cams: Tensor) -> Tensor:
        """Class probabilities ``sigmoid(s_k)`` from CAMs."""
        return torch.sigmoid(self.pool(cams))
