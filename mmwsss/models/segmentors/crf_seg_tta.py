# Copyright (c) OpenMMLab. All rights reserved.
"""Test-time augmentation with an optional dense-CRF step on the result."""
from typing import Dict, List, Optional, Union

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import SegTTAModel
from mmseg.registry import MODELS
from mmseg.utils import SampleList

from ..refiners.dense_crf import DenseCRF, build_dense_crf
from ..utils.postprocess import DenseCRFStep

__all__ = ['CRFSegTTAModel']


@MODELS.register_module()
class CRFSegTTAModel(SegTTAModel):
    """mmseg's ``SegTTAModel`` followed by a dense CRF, as WSSS papers test.

    The final test of WSSS papers (DeepLab, PSA, SEAM, EPS...) averages the
    softmax of the segmentation network over scales and flips and then
    refines the average with a dense CRF on the original image::

        P = 1/|A| sum_{a in A} softmax(f(a(I)))     (mmseg's SegTTAModel)
        Y = argmax_c CRF(I, P)_c                    (this class, crf set)

    mmseg's ``SegTTAModel`` does the first line; this subclass adds the
    second, which no OpenMMLab model has, with the dense-CRF component of
    the stage-2 models (:class:`~mmwsss.models.utils.DenseCRFStep`): the
    image is read from each sample's ``img_path`` at its original size (the
    size of ``P``). With a single-scale, unflipped ``tta_pipeline`` it is a
    plain CRF post-processing step. With ``crf=None`` it equals
    ``SegTTAModel``. From ``tools/test.py``: ``--tta --cfg-options
    tta_model.crf=deeplab-v2``.

    Args:
        module (dict | nn.Module): The segmentor to wrap.
        crf (str | dict | DenseCRF, optional): A :class:`DenseCRF` preset
            name (``'deeplab-v2'``, ``'psa'``, ``'irn'``), keyword arguments
            of :class:`DenseCRF`, or an instance. Defaults to None (no CRF).
        data_preprocessor (dict, optional): See ``BaseTTAModel``.
    """

    def __init__(self,
                 module: Union[dict, torch.nn.Module],
                 crf: Union[None, str, Dict, DenseCRF] = None,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(module=module, data_preprocessor=data_preprocessor)
        self.crf = build_dense_crf(crf)
        self.crf_step = None if self.crf is None else DenseCRFStep(self.crf)

    def merge_preds(self, data_samples_list: List[SampleList]) -> SampleList:
        """Average the augmented predictions, then apply the CRF.

        The merged sample keeps the image id (``img_id``) of the views, by
        which :class:`~mmwsss.engine.PredictionWriterHook` names its files
        (mmseg's average keeps only ``img_path``).
        """
        if self.crf is None:
            merged = super().merge_preds(data_samples_list)
            for sample, views in zip(merged, data_samples_list):
                if 'img_id' in views[0].metainfo:
                    sample.set_metainfo(dict(img_id=views[0].img_id))
            return merged
        if self.module.out_channels == 1:
            raise ValueError('CRFSegTTAModel needs a multi-class segmentor '
                             '(out_channels > 1)')
        predictions = []
        for data_samples in data_samples_list:
            probs = torch.stack([
                s.seg_logits.data.softmax(dim=0) for s in data_samples
            ]).mean(dim=0)
            refined = self.crf_step(
                data_samples[0].img_path, [probs.float().cpu().numpy()],
                resize=False)[0]
            pred = torch.from_numpy(refined).to(probs.device)
            sample = data_samples[0]
            sample.set_data({
                'seg_logits': PixelData(data=probs),
                'pred_sem_seg': PixelData(data=pred[None])
            })
            predictions.append(sample)
        return predictions
