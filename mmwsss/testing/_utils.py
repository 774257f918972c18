# Copyright (c) OpenMMLab. All rights reserved.
"""Helpers shared by the tests (and usable by ``projects/``)."""
import os.path as osp
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.structures import PixelData

__all__ = [
    'REPO_ROOT', 'get_config', 'demo_wsss_inputs', 'tiny_cam_model_cfg'
]

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def get_config(rel_path: str) -> Config:
    """Load a config of this repository by its path under ``configs/``."""
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', rel_path))


def demo_wsss_inputs(batch_size: int = 2,
                     image_shape: Tuple[int, int, int] = (3, 32, 32),
                     num_classes: int = 6,
                     seed: int = 0,
                     labels: Optional[list] = None) -> Dict:
    """Random images with image labels and masks, as a dataloader yields.

    Args:
        batch_size (int): Defaults to 2.
        image_shape (tuple): ``(C, H, W)``. Defaults to (3, 32, 32).
        num_classes (int): Segmentation classes incl. background.
            Defaults to 6.
        seed (int): Defaults to 0.
        labels (list, optional): Per sample, its foreground class indices
            (1-based). Defaults to random non-empty sets; pass ``[]`` for a
            background-only sample.

    Returns:
        dict: ``inputs`` (list of uint8 tensors) and ``data_samples``
        (``SegDataSample`` with ``gt_score``, ``gt_sem_seg`` and meta).
    """
    from mmseg.structures import SegDataSample
    rng = np.random.default_rng(seed)
    c, h, w = image_shape
    inputs, samples = [], []
    for i in range(batch_size):
        inputs.append(
            torch.from_numpy(rng.integers(0, 255, (c, h, w), dtype=np.uint8)))
        if labels is None:
            present = sorted(
                rng.choice(
                    np.arange(1, num_classes),
                    size=int(rng.integers(1, 3)),
                    replace=False).tolist())
        else:
            present = list(labels[i])
        gt_score = torch.zeros(num_classes - 1)
        gt_score[[p - 1 for p in present]] = 1
        seg = np.zeros((h, w), dtype=np.int64)
        for k, cls in enumerate(present):
            seg[k * h // 4:(k + 2) * h // 4, w // 4:3 * w // 4] = cls
        ds = SegDataSample(
            metainfo=dict(
                img_path=f'demo_{i}.jpg',
                ori_shape=(h, w),
                img_shape=(h, w),
                pad_shape=(h, w),
                img_labels=np.asarray(present)))
        ds.gt_sem_seg = PixelData(data=torch.from_numpy(seg)[None])
        ds.set_data(dict(gt_score=gt_score))
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


def tiny_cam_model_cfg(num_fg_classes: int = 5) -> Dict:
    """A very small ``CAMSegmentor`` config (ResNet-18 at 1/8 width)."""
    return dict(
        type='CAMSegmentor',
        data_preprocessor=dict(
            type='SegDataPreProcessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
            pad_val=0,
            seg_pad_val=255,
            size_divisor=32),
        backbone=dict(
            type='ResNet',
            depth=18,
            stem_channels=8,
            base_channels=8,
            out_indices=(3, ),
            strides=(1, 2, 1, 1),
            dilations=(1, 1, 2, 4)),
        cam_head=dict(
            type='CAMHead', in_channels=64, num_classes=num_fg_classes),
        test_cfg=dict(scales=(1.0, 0.5), flip=True))
