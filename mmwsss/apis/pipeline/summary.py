# Copyright (c) OpenMMLab. All rights reserved.
"""The summary picture of one seed of a pipeline: the same images across
every mask-writing stage, and the per-class IoU of each stage."""
import io
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from mmwsss.utils.io import atomic_write_bytes

__all__ = ['mask_stages', 'class_iou', 'write_summary', 'SUMMARY_DEFAULTS']

#: The pipeline config's ``summary`` defaults (``summary=None``: none).
SUMMARY_DEFAULTS = dict(num_images=6, seed=0, height=96)


def mask_stages(records: Dict[str, dict]) -> List[str]:
    """The stages, in run order, whose ``masks`` output is a folder with
    PNG files (a ``test`` stage with ``out=True``, or any kind that outputs
    ``masks``)."""
    names = []
    for name, record in records.items():
        folder = (record.get('outputs') or {}).get('masks')
        if isinstance(folder, str) and osp.isdir(folder) and any(
                f.endswith('.png') for f in _listdir(folder)):
            names.append(name)
    return names


def _listdir(folder: str) -> List[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _dataset(stage_config: str):
    """The test dataset of a stage config, without its pipeline."""
    cfg = Config.fromfile(stage_config)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    from mmseg.registry import DATASETS
    ds_cfg = dict(cfg.test_dataloader.dataset)
    ds_cfg['pipeline'] = []
    return DATASETS.build(ds_cfg)


def class_iou(pairs: Sequence[Tuple[str, str]], num_classes: int,
              ignore_index: int = 255) -> np.ndarray:
    """Per-class IoU (%) of label PNGs against ground-truth PNGs.

    IoU_c = |P_c n G_c| / |P_c u G_c| over all pixels whose ground truth is
    not ``ignore_index`` (mmseg's ``IoUMetric`` definition); NaN for a
    class in neither.

    Args:
        pairs (Sequence[tuple[str, str]]): ``(mask file, ground truth
            file)``.
        num_classes (int): The number of classes.
        ignore_index (int): Unscored ground-truth value. Defaults to 255.

    Returns:
        np.ndarray: ``(num_classes,)`` IoU in percent.
    """
    k = num_classes
    # rows: ground truth; columns: prediction, the last one "outside the
    # classes" (e.g. 255), which counts as a miss (as in IoUMetric)
    conf = np.zeros((k, k + 1), np.int64)
    for pred_path, gt_path in pairs:
        pred = np.asarray(Image.open(pred_path), dtype=np.int64)
        gt = np.asarray(Image.open(gt_path), dtype=np.int64)
        keep = (gt != ignore_index) & (gt >= 0) & (gt < k)
        p, g = pred[keep], gt[keep]
        p = np.where((p >= 0) & (p < k), p, k)
        conf += np.bincount(
            g * (k + 1) + p, minlength=k * (k + 1)).reshape(k, k + 1)
    inter = np.diag(conf[:, :k]).astype(float)
    union = conf.sum(1) + conf[:, :k].sum(0) - inter
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, 100.0 * inter / np.maximum(union, 1),
                        np.nan)


def _image_key(dataset) -> Tuple[str, ...]:
    from mmwsss.engine import image_id
    return tuple(
        image_id(dataset.get_data_info(i)) for i in range(len(dataset)))


def write_summary(records: Dict[str, dict],
                  out_file: str,
                  num_images: int = 6,
                  seed: int = 0,
                  height: int = 96) -> Optional[dict]:
    """Draw the summary picture of one seed of a pipeline.

    For every group of mask-writing stages (:func:`mask_stages`) that
    predict the same dataset (e.g. the train-split pseudo masks and their
    refinements; the val-split masks of stage 3), a grid of the same
    ``num_images`` images (:func:`~mmwsss.engine.choose_images`, as the
    stages' :class:`~mmwsss.engine.MaskGridHook` chooses them):
    ``image | the mask of each stage | ground truth``; under them, a chart
    of the per-class IoU of each stage over all its images
    (:func:`class_iou`, from the written masks and the ground truth).

    Args:
        records (dict): ``{stage name: stage record}`` (``stage.json``) in
            run order.
        out_file (str): The PNG to write (atomically); the IoU values go to
            the same path with ``.json``.
        num_images (int): Images per grid. Defaults to 6.
        seed (int): Seed of their choice. Defaults to 0.
        height (int): Row height in pixels. Defaults to 96.

    Returns:
        dict | None: ``{stage: {class: IoU}}``, or None when no stage wrote
        masks (nothing is drawn).
    """
    from mmwsss.engine import choose_images, image_id
    from mmwsss.visualization import (class_iou_chart, colorize_label,
                                      make_grid, make_panel_row,
                                      panel_starts)
    names = mask_stages(records)
    if not names:
        return None
    groups: Dict[Tuple[str, ...], dict] = {}
    for name in names:
        dataset = _dataset(records[name]['stage_config'])
        key = _image_key(dataset)
        groups.setdefault(key, dict(dataset=dataset, stages=[]))
        groups[key]['stages'].append(name)
    blocks, ious, classes = [], {}, None
    for group in groups.values():
        dataset, stages = group['dataset'], group['stages']
        meta = dataset.metainfo
        classes = list(meta['classes'])
        palette = meta['palette']
        rows, titles = [], []
        for idx in choose_images(len(dataset), num_images, seed):
            info = dataset.get_data_info(idx)
            name = image_id(info)
            image = np.asarray(Image.open(info['img_path']).convert('RGB'))
            panels = [image]
            for stage in stages:
                path = osp.join(records[stage]['outputs']['masks'],
                                name + '.png')
                panels.append(
                    colorize_label(np.asarray(Image.open(path)), palette)
                    if osp.isfile(path) else None)
            gt_path = info.get('seg_map_path')
            gt = np.asarray(Image.open(gt_path)) if gt_path and osp.isfile(
                gt_path) else None
            panels.append(None if gt is None else colorize_label(gt, palette))
            rows.append(make_panel_row(panels, height))
            present = [int(c) for c in info.get('img_labels', [])]
            if not present and gt is not None:  # e.g. a val split
                present = [int(c) for c in np.unique(gt) if 0 < c < 255]
            labels = [classes[c] for c in present]
            titles.append(f"{name}: {', '.join(labels) or 'background'}")
        columns = ['image'] + stages + ['ground truth']
        blocks.append(
            make_grid(rows, titles, columns,
                      panel_starts(height, [1] * len(columns))))
        for stage in stages:
            start = time.time()
            pairs = []
            for i in range(len(dataset)):
                info = dataset.get_data_info(i)
                path = osp.join(records[stage]['outputs']['masks'],
                                image_id(info) + '.png')
                gt = info.get('seg_map_path')
                if osp.isfile(path) and gt and osp.isfile(gt):
                    pairs.append((path, gt))
            ious[stage] = class_iou(pairs, len(classes))
            print(f'[pipeline] summary: per-class IoU of {stage} over '
                  f'{len(pairs)} images ({time.time() - start:.1f} s)',
                  flush=True)
    chart = class_iou_chart(classes, ious)
    width = max([b.shape[1] for b in blocks] + [chart.shape[1]])
    parts = []
    for part in blocks + [chart]:
        pad = np.full((part.shape[0] + 8, width, 3), 255, np.uint8)
        pad[:part.shape[0], :part.shape[1]] = part
        parts.append(pad)
    picture = np.concatenate(parts, axis=0)
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format='PNG')
    atomic_write_bytes(out_file, buf.getvalue())
    table = {
        stage: {c: (None if np.isnan(v) else round(float(v), 2))
                for c, v in zip(classes, values)}
        for stage, values in ious.items()
    }
    atomic_write_bytes(
        osp.splitext(out_file)[0] + '.json',
        json.dumps(dict(class_iou=table), indent=2).encode())
    print(f'[pipeline] summary picture: {out_file}', flush=True)
    return table
