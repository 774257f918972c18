# Copyright (c) OpenMMLab. All rights reserved.
"""Packing of WSSS inputs into :class:`~mmseg.structures.SegDataSample`."""
import numpy as np
import torch
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
    multi-label metrics (e.g. ``mmpretrain.AveragePrecision``) read.

    Required Keys:

    - img, gt_score (from a :class:`~mmwsss.datasets.BaseWSSSDataset`)
    - gt_seg_map (optional), img_labels (optional)

    Added Keys:

    - inputs, data_samples (with ``gt_score`` and the meta keys)

    Args:
        meta_keys (Sequence[str]): Meta keys as in ``PackSegInputs``, plus
            ``'img_labels'``.
    """

    def __init__(self,
                 meta_keys=('img_path', 'seg_map_path', 'ori_shape',
                            'img_shape', 'pad_shape', 'scale_factor', 'flip',
                            'flip_direction', 'reduce_zero_label',
                            'img_labels')) -> None:
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
        packed['data_samples'].set_data(dict(gt_score=gt_score))
        return packed
