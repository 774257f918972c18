# Copyright (c) OpenMMLab. All rights reserved.
"""Packing of WSSS inputs into :class:`~mmseg.structures.SegDataSample`."""
from typing import Sequence

import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS

__all__ = ['PackWSSSInputs']


@TRANSFORMS.register_module()
class PackWSSSInputs(PackSegInputs):
    """Pack images, masks, image-level labels and declared extra keys.

    Does what mmseg's :class:`~mmseg.datasets.transforms.PackSegInputs` does
    and also copies the image-level label vector into the data sample as the
    data field ``gt_score`` (a float multi-hot ``Tensor`` over the
    foreground classes), the field that mmwsss heads and mmpretrain's
    multi-label metrics (e.g. ``mmpretrain.AveragePrecision``) read.

    What a method needs besides that is declared, in the manner of
    mmpretrain's ``PackInputs(algorithm_keys=...)``, never hard-coded here:

    - ``algorithm_keys``: result keys packed as data fields of the data
      sample, ``np.ndarray`` as ``Tensor`` (same dtype and shape), anything
      else as is; e.g. ``('cams', 'cam_labels')`` of
      :class:`~mmwsss.datasets.LoadCAMs` for a CAM refiner.
    - ``pixel_keys``: result keys packed as :class:`PixelData` fields with a
      leading channel dimension (an ``(H, W)`` map becomes ``(1, H, W)``,
      an ``(H, W, C)`` one ``(C, H, W)``), dtype kept; e.g.
      ``('gt_saliency', )`` of :class:`~mmwsss.datasets.LoadSaliencyMap`.
    - ``meta_keys``: as in mmseg, e.g. ``'saliency_valid'`` (from
      ``LoadSaliencyMap``) or ``'selected_classes'`` (from
      :class:`~mmwsss.datasets.PerClassDrawDataset`).

    Keys absent from the results are skipped. The image id ``img_id`` of a
    :class:`~mmwsss.datasets.BaseWSSSDataset` (its path under the image
    folder, which names the files a test pass writes, see
    :func:`~mmwsss.engine.image_id`) is always packed into the metainfo,
    whatever ``meta_keys`` says.

    Required Keys:

    - img, gt_score (from a :class:`~mmwsss.datasets.BaseWSSSDataset`)
    - img_id (optional)
    - gt_seg_map (optional), img_labels (optional)
    - the declared ``algorithm_keys`` / ``pixel_keys`` (optional)

    Added Keys:

    - inputs, data_samples (with ``gt_score``, the declared fields, the
      meta keys and ``img_id``)

    Args:
        meta_keys (Sequence[str]): Meta keys as in ``PackSegInputs``, plus
            ``'img_labels'``.
        algorithm_keys (Sequence[str]): Keys packed as data fields.
            Defaults to ().
        pixel_keys (Sequence[str]): Keys packed as ``PixelData`` fields.
            Defaults to ().
    """

    def __init__(
        self,
        meta_keys: Sequence[str] = ('img_path', 'seg_map_path', 'ori_shape',
                                    'img_shape', 'pad_shape', 'scale_factor',
                                    'flip', 'flip_direction',
                                    'reduce_zero_label', 'img_labels'),
        algorithm_keys: Sequence[str] = (),
        pixel_keys: Sequence[str] = ()
    ) -> None:
        super().__init__(meta_keys=meta_keys)
        algorithm_keys = self._as_keys(algorithm_keys, 'algorithm_keys')
        pixel_keys = self._as_keys(pixel_keys, 'pixel_keys')
        reserved = ('gt_score', 'gt_sem_seg', 'gt_edge_map', 'gt_depth_map',
                    'gt_seg_map')
        for key in algorithm_keys + pixel_keys:
            if key in reserved:
                raise ValueError(f'PackWSSSInputs: {key!r} is packed by '
                                 'default; do not declare it')
        both = set(algorithm_keys) & set(pixel_keys)
        if both:
            raise ValueError('PackWSSSInputs: keys declared both as '
                             f'algorithm_keys and pixel_keys: {sorted(both)}')
        self.algorithm_keys = algorithm_keys
        self.pixel_keys = pixel_keys

    @staticmethod
    def _as_keys(keys: Sequence[str], name: str) -> tuple:
        if isinstance(keys, str):
            keys = (keys, )
        keys = tuple(keys)
        for key in keys:
            if not isinstance(key, str):
                raise TypeError(
                    f'PackWSSSInputs: {name} must be strings, got {key!r}')
        return keys

    @staticmethod
    def _to_tensor(value):
        if isinstance(value, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(value))
        return value

    def _to_pixel_data(self, key: str, value, img_path) -> PixelData:
        if isinstance(value, np.ndarray):
            if value.ndim == 3:  # (H, W, C) as mmcv's transforms keep it
                value = value.transpose(2, 0, 1)
            tensor = torch.from_numpy(np.ascontiguousarray(value))
        elif isinstance(value, torch.Tensor):
            tensor = value
        else:
            raise TypeError(
                f'PackWSSSInputs: pixel key {key!r} of {img_path} must be an '
                f'array, got {type(value).__name__}')
        if tensor.ndim == 2:
            tensor = tensor[None]
        if tensor.ndim != 3:
            raise ValueError(
                f'PackWSSSInputs: pixel key {key!r} of {img_path} must be '
                f'(H, W) or (H, W, C), got shape {tuple(value.shape)}')
        return PixelData(data=tensor)

    def transform(self, results: dict) -> dict:
        """Pack ``results``; raise if the image-level labels are missing."""
        img_path = results.get('img_path', '<unknown image>')
        if 'gt_score' not in results:
            raise KeyError(
                'PackWSSSInputs: no "gt_score" in the results of '
                f'{img_path}; use an mmwsss dataset (BaseWSSSDataset '
                'subclass) to get image labels')
        packed = super().transform(results)
        gt_score = torch.from_numpy(
            np.asarray(results['gt_score'], dtype=np.float32))
        data_sample = packed['data_samples']
        if 'img_id' in results:
            data_sample.set_metainfo(dict(img_id=results['img_id']))
        data_sample.set_data(dict(gt_score=gt_score))
        for key in self.algorithm_keys:
            if key in results:
                data_sample.set_data({key: self._to_tensor(results[key])})
        for key in self.pixel_keys:
            if key in results:
                data_sample.set_data(
                    {key: self._to_pixel_data(key, results[key], img_path)})
        return packed

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(meta_keys={self.meta_keys}, '
                f'algorithm_keys={self.algorithm_keys}, '
                f'pixel_keys={self.pixel_keys})')
