# Copyright (c) OpenMMLab. All rights reserved.
"""The part that mmwsss's segmentors share: backbone, neck, preprocessor,
and the stage-2 post-processing of their maps."""
from typing import List, Optional, Union

from mmengine.registry import DefaultScope
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.models.utils.cfg_check import check_cfg_keys, merge_checked_cfg
from mmwsss.models.utils.postprocess import PseudoMaskPostProcessor
from mmwsss.utils.typing_utils import (ConfigType, OptConfigType,
                                       OptMultiConfig, SampleList)

__all__ = ['BackboneSegmentor']


class BackboneSegmentor(BaseSegmentor):
    """An mmseg ``BaseSegmentor`` with a backbone and an optional neck.

    mmseg's ``EncoderDecoder`` also builds a decode head and a
    ``decode_head``-based inference, which the WSSS models
    (:class:`~mmwsss.models.CAMSegmentor`, :class:`~mmwsss.models.AffinityNet`)
    replace; this base holds what they share. Not registered: subclasses
    are.

    A stage-2 subclass declares ``default_test_cfg`` and ``test_cfg_kinds``,
    calls :meth:`checked_cfgs` (the checked ``train_cfg`` / ``test_cfg`` and
    ``self.postprocessor``, a
    :class:`~mmwsss.models.utils.PseudoMaskPostProcessor` built from the
    ``test_cfg``) and ends ``predict`` with :meth:`postprocess_masks`,
    which turns the maps of the samples into ``pred_sem_seg`` (and the
    optional dense CRF). Validation during training (``val_step``) skips
    the CRF: it scores the classifier, and before the CRF moved into the
    model the validation metrics never had it.

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
        self.postprocessor: Optional[PseudoMaskPostProcessor] = None
        self._validating = False

    def checked_cfgs(self, train_cfg: OptConfigType,
                     test_cfg: OptConfigType) -> dict:
        """Set ``train_cfg`` and the checked ``test_cfg`` of a stage-2
        subclass, and its :attr:`postprocessor`.

        ``train_cfg`` takes no key (any is an error naming it);
        ``test_cfg`` is merged over the subclass's ``default_test_cfg`` with
        its ``test_cfg_kinds`` (:func:`~mmwsss.models.utils.merge_checked_cfg`:
        an unknown key or a value of the wrong kind is an error naming it),
        and the post-processor (background rule, dense CRF) is built from
        it. Subclasses check their own values on the returned dict.

        Returns:
            dict: The merged ``test_cfg`` (also ``self.test_cfg``).
        """
        name = type(self).__name__
        check_cfg_keys(train_cfg or {}, (), f'{name} train_cfg')
        self.train_cfg = train_cfg
        self.test_cfg = merge_checked_cfg(self.default_test_cfg, test_cfg,
                                          f'{name} test_cfg',
                                          self.test_cfg_kinds)
        self.postprocessor = PseudoMaskPostProcessor.from_test_cfg(
            self.test_cfg)
        return self.test_cfg

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """Backbone (and neck) features."""
        x = self.backbone(inputs)
        if self.neck is not None:
            x = self.neck(x)
        return x

    def postprocess_masks(self, data_samples: SampleList) -> SampleList:
        """Pseudo masks of the samples' maps (see
        :class:`~mmwsss.models.utils.PseudoMaskPostProcessor`)."""
        if self.postprocessor is None:
            return data_samples
        return self.postprocessor(
            data_samples, with_crf=not self._validating)

    def val_step(self, data: Union[dict, tuple, list]) -> list:
        """``predict`` without the dense CRF (see the class docstring)."""
        self._validating = True
        try:
            return super().val_step(data)
        finally:
            self._validating = False
