# Copyright (c) OpenMMLab. All rights reserved.
"""Relabelling: a segmentor's predictions fill previous pseudo masks."""
from typing import Optional, Union

import torch
from mmengine.model import BaseTTAModel
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from torch import Tensor, nn

from mmwsss.utils.typing_utils import SampleList

__all__ = ['RelabelSegmentor', 'fill_pseudo_mask', 'FILL_MODES']

FILL_MODES = ('uncertain', 'all')


def fill_pseudo_mask(prev: Optional[Tensor], pred: Tensor, fill: str,
                     ignore_index: int = 255) -> Tensor:
    """Fill a pseudo mask with a model's prediction.

    Args:
        prev (Tensor, optional): ``(H, W)`` previous pseudo mask, or None
            (no previous mask: the prediction is the mask).
        pred (Tensor): ``(H, W)`` predicted labels.
        fill (str): ``'uncertain'`` keeps the previous label where it is not
            ``ignore_index`` and takes the prediction where it is;
            ``'all'`` takes the prediction everywhere.
        ignore_index (int): The uncertain label. Defaults to 255.

    Returns:
        Tensor: The filled ``(H, W)`` mask (``int64``, on ``pred``'s
        device).
    """
    if fill not in FILL_MODES:
        raise ValueError(f'fill must be one of {FILL_MODES}, got {fill!r}')
    pred = torch.as_tensor(pred).to(torch.int64)
    if prev is None or fill == 'all':
        return pred.clone()
    prev = torch.as_tensor(prev).to(device=pred.device, dtype=torch.int64)
    return torch.where(prev == ignore_index, pred, prev)


def _as_2d(data) -> Tensor:
    data = data.data if isinstance(data, PixelData) else data
    data = torch.as_tensor(data)
    return data[0] if data.ndim == 3 else data


@MODELS.register_module()
class RelabelSegmentor(BaseTTAModel):
    """A segmentor whose prediction fills the uncertain pixels of a previous
    label map.

    The retraining rounds of Luo & Yang (AAAI 2020), and self-training in
    general: a segmentation model trained on pseudo masks predicts the
    **train** split, and its labels fill the pixels the previous masks left
    uncertain (``ignore_index``; ``fill='uncertain'``) or replace the masks
    (``fill='all'``, the paper's "retrain using the masks predicted by the
    trained model"). The result is the sample's ``pred_sem_seg``, so that
    ``tools/test.py --out DIR`` (a ``PredictionWriterHook``) writes the next
    round's masks and :class:`~mmwsss.evaluation.RelabelMetric` scores them.

    Each input sample carries its previous mask as the pixel field
    ``prev_key`` (``data_prefix.prev_mask_path`` of the dataset gives the
    file, :class:`~mmwsss.datasets.LoadLabelMap` reads it and
    ``PackWSSSInputs(pixel_keys=('prev_mask', ))`` packs it), at the
    original image size as the prediction is. The output sample keeps it and
    gets the metainfo ``mask_fill``.

    ``module`` is any mmseg segmentor (or a TTA model of one). This wrapper
    is an mmengine ``BaseTTAModel``, which mmengine's checkpoint loader
    unwraps, so ``load_from`` (``tools/test.py CONFIG CHECKPOINT``) loads
    the segmentor's own checkpoint into ``module`` unchanged.

    Args:
        module (dict | nn.Module): The segmentor (config).
        fill (str): ``'uncertain'`` or ``'all'``. Defaults to 'uncertain'.
        prev_key (str): The data field of the previous mask. Defaults to
            'prev_mask'.
        ignore_index (int): The uncertain label. Defaults to 255.
        data_preprocessor (dict, optional): See ``BaseTTAModel``.
    """

    def __init__(self,
                 module: Union[dict, nn.Module],
                 fill: str = 'uncertain',
                 prev_key: str = 'prev_mask',
                 ignore_index: int = 255,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(module=module, data_preprocessor=data_preprocessor)
        if fill not in FILL_MODES:
            raise ValueError(f'RelabelSegmentor: fill must be one of '
                             f'{FILL_MODES}, got {fill!r}')
        self.fill = fill
        self.prev_key = prev_key
        self.ignore_index = int(ignore_index)

    def test_step(self, data: Union[dict, tuple, list]) -> SampleList:
        """The module's prediction, then the filled masks."""
        outputs = self.module.test_step(data)
        inputs = data['data_samples'] if isinstance(data, dict) else None
        if inputs and isinstance(inputs[0], (list, tuple)):  # TTA views
            inputs = inputs[0]
        for i, out in enumerate(outputs):
            prev = out.get(self.prev_key)
            if prev is None and inputs is not None:
                prev = inputs[i].get(self.prev_key)
            meta = out.metainfo
            if prev is None and self.fill == 'uncertain':
                raise KeyError(
                    f"RelabelSegmentor(fill='uncertain') needs the previous "
                    f'mask {self.prev_key!r} of every sample (data_prefix.'
                    f'{self.prev_key}_path, LoadLabelMap(key='
                    f"{self.prev_key!r}), PackWSSSInputs(pixel_keys="
                    f"({self.prev_key!r}, ))); {meta.get('img_path')} has "
                    'none')
            pred = _as_2d(out.pred_sem_seg)
            if prev is not None:
                if not isinstance(prev, PixelData):
                    prev = PixelData(data=_as_2d(prev)[None])
                if tuple(_as_2d(prev).shape) != tuple(pred.shape):
                    where = meta.get(f'{self.prev_key}_path', self.prev_key)
                    raise ValueError(
                        f'RelabelSegmentor: the previous mask {where} has '
                        f'shape {tuple(_as_2d(prev).shape)} but the '
                        f"prediction of {meta.get('img_path')} has shape "
                        f'{tuple(pred.shape)}')
                out.set_data({self.prev_key: prev})
            filled = fill_pseudo_mask(None if prev is None else _as_2d(prev),
                                      pred, self.fill, self.ignore_index)
            out.set_data(dict(pred_sem_seg=PixelData(data=filled[None])))
            out.set_metainfo(dict(mask_fill=self.fill))
        return outputs

    def merge_preds(self, data_samples_list):  # pragma: no cover
        """Not used: :meth:`test_step` leaves views to ``module``."""
        raise NotImplementedError

    def forward(self, inputs, data_samples=None, mode: str = 'predict'):
        """The module's forward (for ``mode='tensor'``/``'predict'``; the
        filling happens in :meth:`test_step`)."""
        return self.module(inputs, data_samples, mode=mode)
