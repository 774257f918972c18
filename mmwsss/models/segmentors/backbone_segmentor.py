# Copyright (c) OpenMMLab. All rights reserved.
"""The part that mmwsss's segmentors share: backbone, neck, preprocessor."""
from typing import List

from mmengine.registry import DefaultScope
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.utils.typing_utils import (ConfigType, OptConfigType,
                                       OptMultiConfig)

__all__ = ['BackboneSegmentor']


class BackboneSegmentor(BaseSegmentor):
    """An mmseg ``BaseSegmentor`` with a backbone and an optional neck.

    mmseg's ``EncoderDecoder`` also builds a decode head and a
    ``decode_head``-based inference, which the WSSS models
    (:class:`~mmwsss.models.CAMSegmentor`, :class:`~mmwsss.models.AffinityNet`)
    replace; this base holds what they share. Not registered: subclasses
    are.

    A ``data_preprocessor`` dict gets ``_scope_='mmseg'`` when no default
    scope is set: ``BaseModel`` builds it from mmengine's root registry, so
    without it a plain ``CAMSegmentor(...)`` outside a runner (or without
    ``init_default_scope``) would not find ``SegDataPreProcessor``.

    Args:
        backbone (dict): Backbone config.
        neck (dict, optional): Neck config. Defaults to None.
        data_preprocessor (dict, optional): Defaults to None.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        if isinstance(data_preprocessor, dict) and \
                DefaultScope.get_current_instance() is None:
            data_preprocessor = dict(data_preprocessor)
            data_preprocessor.setdefault('_scope_', 'mmseg')
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Backbone (and neck) features."""
        x = self.backbone(inputs)
        if self.neck is not None:
            x = self.neck(x)
        return x
