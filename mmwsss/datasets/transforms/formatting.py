# Copyright (c) OpenMMLab. All rights reserved.
"""Packing of WSSS inputs into :class:`~mmseg.structures.SegDataSample`."""
import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS

__all__ = ['PackWSSSInputs']


@TRANSFORMS.register_module()
class PackWSSSInputs(PackSegInputs):
    """Pack images, masks and image-level labels.

    Does what mmseg's :class:`~mmseg.datasets.transforms.PackSegInputs` does
    and also copies the image-level label vector into the data sample as the
    data field ``gt_score`` (a float multi-hot ``Tensor`` over the
    foreground classes), the field that mmwsss heads and mmpretrain's
    multi-label metrics (e.g. ``mmpretrain.AveragePrecision``) read. A
    saliency map (:class:`LoadSaliencyMap`) becomes ``gt_saliency``
    (``PixelData``, float in [0, 1], ``(1, H, W)``) with the meta key
    ``saliency_valid``; saved CAMs (:class:`LoadCAMs`) become ``cams`` and
    ``cam_labels``.

    Required Keys:

    - img, gt_score (from a :class:`~mmwsss.datasets.BaseWSSSDataset`)
    - gt_seg_map (optional), img_labels (optional)
    - gt_saliency, saliency_valid (optional), cams, cam_labels (optional)

    Added Keys:

    - inputs, data_samples (with ``gt_score`` and the meta keys)

    Args:
        meta_keys (Sequence[str]): Meta keys as in ``PackSegInputs``, plus
            ``'img_labels'`` and ``'selected_classes'`` (packed when
            present, see ``max_images_per_class`` of the datasets).
    """

    def __init__(self,
                 meta_keys=('img_path', 'seg_map_path', 'ori_shape',
                            'img_shape', 'pad_shape', 'scale_factor', 'flip',
                            'flip_direction', 'reduce_zero_label',
                            'img_labels', 'selected_classes')) -> None:
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        """Pack ``results``; raise if the image-level labels are missing."""
        if 'gt_score' not in results:
            raise KeyError(
                'PackWSSSInputs: no "gt_score" in the results of '
                f'{results.get("img_path", "<unknown image>")}; use an mmwsss '
                'dataset (BaseWSSSDataset subclass) to get image labels')
        packed = super().transform(results)
        gt_score = torch.from_numpy(
            np.asarray(results['gt_score'], dtype=np.float32))
        data_sample = packed['data_samples']
        data_sample.set_data(dict(gt_score=gt_score))
        if 'gt_saliency' in results:
            sal = np.asarray(results['gt_saliency'], dtype=np.float32) / 255
            data_sample.set_data(
                dict(
                    gt_saliency=PixelData(
                        data=torch.from_numpy(
                            np.ascontiguousarray(sal))[None])))
            data_sample.set_metainfo(
                dict(saliency_valid=bool(results.get('saliency_valid',
                                                     True))))
        if 'cams' in results:
            data_sample.set_data(
                dict(
                    cams=torch.from_numpy(
                        np.ascontiguousarray(results['cams'])),
                    cam_labels=torch.from_numpy(
                        np.asarray(results['cam_labels'], np.int64))))
        return packed
