# Copyright (c) OpenMMLab. All rights reserved.
"""The classification head of EPS (C + 1 maps and the saliency loss)."""
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.utils.typing_utils import ConfigType, OptMultiConfig, SampleList
from .cam_head import CAMHead

__all__ = ['EPSHead']


@MODELS.register_module()
class EPSHead(CAMHead):
    """Classifier of `EPS <https://arxiv.org/abs/2105.08965>`_: CAMs with a
    background map, supervised by image labels and a saliency map.

    A bias-free 1x1 convolution gives ``C + 1`` maps, the last for the
    background (EPS ``network/resnet38_eps.py``: ``fc8``, Xavier-uniform
    init). Training minimises (EPS ``module/train.py``)::

        L = L_cls + L_sal

    where ``L_cls`` is the multi-label soft margin loss on the globally
    average-pooled scores of the ``C`` classes (the background score has no
    label) and ``L_sal`` the :class:`~mmwsss.models.EPSLoss` between the
    saliency estimated from the softmax of the ``C + 1`` maps and the
    off-the-shelf saliency map (``data_sample.gt_saliency``, loaded by
    :class:`~mmwsss.datasets.LoadSaliencyMap`).

    At inference the localisation maps are the softmax probabilities of the
    ``C`` classes (EPS ``infer.py``); the
    :class:`~mmwsss.models.CAMSegmentor` sums them over scales and flips,
    max-normalises them and applies the background threshold (EPS
    ``--thr 0.20``), so any CAM config switches to EPS by replacing its
    ``cam_head`` and adding the saliency transform.

    Args:
        in_channels (int): Channels of the input feature.
        num_classes (int): Number of foreground classes ``C``.
        in_index (int): Which backbone output to use. Defaults to -1.
        dropout_ratio (float): Dropout before the classifier. Defaults to 0.
        loss_cls (dict): Classification loss on the ``C`` scores. Defaults
            to mmseg's sigmoid ``CrossEntropyLoss`` (= multi-label soft
            margin loss), as :class:`~mmwsss.models.CAMHead`.
        loss_sal (dict): Defaults to ``dict(type='EPSLoss', tau=0.4,
            lam=0.5)`` (EPS on VOC; ``lam=0.9`` on COCO).
        init_cfg (dict, optional): Defaults to Xavier-uniform on the
            classifier (EPS).
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
                 loss_sal: ConfigType = dict(
                     type='EPSLoss', tau=0.4, lam=0.5, loss_weight=1.0),
                 init_cfg: OptMultiConfig = dict(
                     type='Xavier', distribution='uniform',
                     layer='Conv2d')) -> None:
        super().__init__(
            in_channels=in_channels,
            num_classes=num_classes,
            in_index=in_index,
            dropout_ratio=dropout_ratio,
            loss_cls=loss_cls,
            init_cfg=init_cfg)
        # one more map than classes: the background
        self.classifier = torch.nn.Conv2d(
            in_channels, num_classes + 1, 1, bias=False)
        self.loss_sal = MODELS.build(loss_sal) \
            if isinstance(loss_sal, dict) else loss_sal

    def localization_maps(self, out: Tensor) -> Tensor:
        """Softmax probabilities of the ``C`` classes (background dropped)."""
        return F.softmax(out, dim=1)[:, :-1]

    def image_logits(self, out: Tensor) -> Tensor:
        """Pooled scores of the ``C`` classes."""
        return self.pool(out)[:, :-1]

    @staticmethod
    def batch_saliency(data_samples: SampleList,
                       size: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
        """Saliency maps of a batch, padded like the images.

        The data preprocessor pads images at the bottom and right; the
        saliency maps are padded the same way and the padding is marked
        invalid, as are images flagged ``saliency_valid=False``.

        Args:
            data_samples (list[SegDataSample]): With ``gt_saliency``.
            size (tuple[int, int]): Padded batch size ``(H, W)``.

        Returns:
            tuple[Tensor, Tensor]: ``(saliency, valid)``, ``(B, 1, H, W)``
            float and bool.
        """
        sal = torch.zeros((len(data_samples), 1) + tuple(size))
        valid = torch.zeros_like(sal, dtype=torch.bool)
        for i, ds in enumerate(data_samples):
            if 'gt_saliency' not in ds:
                raise KeyError(
                    'EPSHead needs saliency maps: the sample of '
                    f"{ds.metainfo.get('img_path')} has no gt_saliency "
                    '(add LoadSaliencyMap to the train pipeline and set '
                    'data_prefix.saliency_path)')
            s = ds.gt_saliency.data
            h, w = s.shape[-2:]
            if h > size[0] or w > size[1]:
                raise ValueError(
                    f"saliency map of {ds.metainfo.get('img_path')} is "
                    f'{w}x{h}, larger than the batch {size[1]}x{size[0]}: '
                    'was it left out of a geometric transform?')
            sal[i, :, :h, :w] = s
            valid[i, :, :h, :w] = bool(ds.metainfo.get('saliency_valid', True))
        return sal, valid

    def extra_losses(self, out: Tensor, target: Tensor,
                     data_samples: SampleList) -> Dict[str, Tensor]:
        """``loss_sal`` of the ``C + 1`` maps against the saliency maps."""
        meta = data_samples[0].metainfo
        if 'batch_input_shape' in meta:
            size = meta['batch_input_shape']
        else:  # no padding information: the largest map
            size = tuple(
                max(ds.gt_saliency.data.shape[-2 + k] for ds in data_samples)
                for k in range(2))
        sal, valid = self.batch_saliency(data_samples, tuple(size[:2]))
        return {
            self.loss_sal.loss_name:
            self.loss_sal(out, sal.to(out), target, valid.to(out.device))
        }
