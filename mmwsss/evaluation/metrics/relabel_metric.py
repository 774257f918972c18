# Copyright (c) OpenMMLab. All rights reserved.
"""Relabel pseudo masks with a trained segmentation model, and score them.

The retraining step of Luo & Yang, `Learning Saliency-Free Model with
Generic Features for Weakly-Supervised Semantic Segmentation
<https://ojs.aaai.org/index.php/AAAI/article/view/6842>`_ (AAAI 2020): the
segmentation network trained on the pseudo masks predicts the training
images, its predictions fill the uncertain (ignored) pixels of the masks, and
the network is retrained once from scratch on the filled masks (60.3 -> 64.5
mIoU on VOC val in the paper).
"""
import json
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS
from PIL import Image

from mmwsss.utils.io import atomic_write_bytes, save_palette_png
from .image_cache import ImageResultCacheMixin

__all__ = ['RelabelMetric', 'fill_pseudo_mask']

FILL_MODES = ('uncertain', 'all')
# per-image pixel counts: filled, ignored in prev, changed, total
COUNT_NAMES = ('filled', 'prev_ignored', 'changed', 'total')


def fill_pseudo_mask(prev: Optional[np.ndarray], pred: np.ndarray,
                     fill: str, ignore_index: int = 255) -> np.ndarray:
    """Fill a pseudo mask with a model's prediction.

    Args:
        prev (np.ndarray, optional): ``(H, W)`` previous pseudo mask, or
            None (no previous mask: the prediction is the mask).
        pred (np.ndarray): ``(H, W)`` predicted labels.
        fill (str): ``'uncertain'`` keeps the previous label where it is not
            ``ignore_index`` and takes the prediction where it is;
            ``'all'`` takes the prediction everywhere.
        ignore_index (int): The uncertain label. Defaults to 255.

    Returns:
        np.ndarray: The filled ``(H, W)`` mask (``int64``).
    """
    if fill not in FILL_MODES:
        raise ValueError(f'fill must be one of {FILL_MODES}, got {fill!r}')
    pred = np.asarray(pred).astype(np.int64)
    if prev is None or fill == 'all':
        return pred.copy()
    prev = np.asarray(prev).astype(np.int64)
    return np.where(prev == ignore_index, pred, prev)


@METRICS.register_module()
class RelabelMetric(ImageResultCacheMixin, IoUMetric):
    """Fill the uncertain pixels of pseudo masks with a model's predictions.

    Run on the **train** split with a trained segmentation model (see
    ``tools/test.py --relabel``), it makes the masks of a retraining round.
    Per image it:

    1. reads the previous round's pseudo mask ``prev_mask_dir/<id>.png``
       (palette or grey PNG, read as raw indices as the datasets do);
    2. builds the filled mask (:func:`fill_pseudo_mask`) from the model's
       prediction ``pred_sem_seg`` (at the original image size) and writes
       it atomically to ``output_dir/<id>.png`` as a palette PNG;
    3. scores it against ``gt_sem_seg`` with mmseg's
       :meth:`IoUMetric.intersect_and_union` (skipped with ``format_only``)
       and counts its filled pixels (ignored in the previous mask, labelled
       now), changed pixels (labelled in both, differently) and all pixels.

    ``compute_metrics`` returns mmseg's metrics of the filled masks (with
    the per-class table in the log) plus ``filled_pct`` (100 x filled /
    all pixels), ``prev_ignored_pct`` and ``changed_pct``, and writes them to
    ``output_dir/relabel_eval.json``.

    Resume: as :class:`~mmwsss.evaluation.PseudoMaskMetric`, each image's
    statistics go to ``output_dir/.stats/<id>.npz`` after its PNG, and
    :meth:`load_finished` lets a :class:`~mmwsss.engine.ResumableTestLoop`
    skip finished images on a rerun.

    Args:
        prev_mask_dir (str, optional): The previous round's pseudo masks.
            Required with ``fill='uncertain'``; with ``fill='all'`` and no
            folder, nothing is counted as filled. Defaults to None.
        fill (str): ``'uncertain'`` (keep the previous labels, fill the
            ignored pixels) or ``'all'`` (the prediction everywhere: the
            paper's "retrain using the masks predicted by the trained
            model"). Defaults to 'uncertain'.
        output_dir (str, optional): Where the filled masks go. Defaults to
            None (nothing written, no resume).
        format_only (bool): Only write masks; there is no ground truth.
            Defaults to False.
        **kwargs: :class:`~mmseg.evaluation.IoUMetric` arguments
            (``ignore_index``, ``iou_metrics``, ``prefix``...).
    """

    cache_keys = ('stats', 'counts')

    def __init__(self,
                 prev_mask_dir: Optional[str] = None,
                 fill: str = 'uncertain',
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 **kwargs) -> None:
        kwargs.pop('keep_results', None)  # set by tools/test.py --out
        super().__init__(
            output_dir=output_dir, format_only=format_only, **kwargs)
        if fill not in FILL_MODES:
            raise ValueError(
                f'RelabelMetric: fill must be one of {FILL_MODES}, got '
                f'{fill!r}')
        if prev_mask_dir is None and fill == 'uncertain':
            raise ValueError("RelabelMetric: fill='uncertain' needs "
                             'prev_mask_dir (the masks to fill)')
        if prev_mask_dir is not None and not osp.isdir(prev_mask_dir):
            raise FileNotFoundError(
                f'RelabelMetric: prev_mask_dir {prev_mask_dir} is not a '
                'directory')
        self.prev_mask_dir = prev_mask_dir
        self.fill = fill
        self._make_cache_dir()

    # ------------------------------------------------------------------
    @property
    def signature(self) -> Dict:
        """Settings that change the cached per-image statistics."""
        return dict(
            prev_mask_dir=None if self.prev_mask_dir is None else osp.abspath(
                self.prev_mask_dir),
            fill=self.fill,
            format_only=self.format_only,
            ignore_index=self.ignore_index,
            num_classes=len(self.dataset_meta['classes'])
            if self.dataset_meta else None)

    def _read_prev(self, image_id: str) -> Optional[np.ndarray]:
        if self.prev_mask_dir is None:
            return None
        path = osp.join(self.prev_mask_dir, image_id + '.png')
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'RelabelMetric: the previous pseudo mask {path} does not '
                'exist (prev_mask_dir must hold <image id>.png for every '
                'image of the split)')
        try:
            with Image.open(path) as im:
                mask = np.asarray(im)
        except Exception as e:  # PIL raises several exception types
            raise OSError(f'cannot read pseudo mask {path}: {e}') from e
        if mask.ndim != 2:
            raise ValueError(f'pseudo mask {path} must be a single-channel '
                             f'label map (mode P or L), got shape '
                             f'{mask.shape}')
        return mask

    @staticmethod
    def _as_2d(data) -> torch.Tensor:
        data = data.cpu() if isinstance(data, torch.Tensor) else \
            torch.as_tensor(np.asarray(data))
        return data[0] if data.ndim == 3 else data

    # ------------------------------------------------------------------
    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Fill, write, score and cache each image's pseudo mask."""
        num_classes = len(self.dataset_meta['classes'])
        palette = self.dataset_meta.get('palette')
        for sample in data_samples:
            image_id = self._image_id(sample)
            pred = self._as_2d(sample['pred_sem_seg']['data']).numpy()
            prev = self._read_prev(image_id)
            if prev is not None and prev.shape != pred.shape:
                raise ValueError(
                    'RelabelMetric: the previous pseudo mask '
                    f'{osp.join(self.prev_mask_dir, image_id + ".png")} has '
                    f'shape {tuple(prev.shape)} but the prediction of '
                    f"{sample['img_path']} has shape {tuple(pred.shape)}")
            filled = fill_pseudo_mask(prev, pred, self.fill,
                                      self.ignore_index)
            if self.output_dir is not None:
                save_palette_png(
                    osp.join(self.output_dir, image_id + '.png'), filled,
                    palette)
            if prev is None:
                counts = np.array([0, 0, 0, filled.size], dtype=np.int64)
            else:
                was_ignored = prev == self.ignore_index
                is_ignored = filled == self.ignore_index
                counts = np.array([
                    np.count_nonzero(was_ignored & ~is_ignored),
                    np.count_nonzero(was_ignored),
                    np.count_nonzero(~was_ignored & ~is_ignored
                                     & (filled != prev)), filled.size
                ],
                                  dtype=np.int64)
            if self.format_only:
                stats = np.zeros((4, num_classes), np.int64)
            else:
                gt = self._as_2d(sample['gt_sem_seg']['data'])
                if tuple(gt.shape) != filled.shape:
                    raise ValueError(
                        f"ground truth of {sample['img_path']} has shape "
                        f'{tuple(gt.shape)} but the prediction has '
                        f'{tuple(filled.shape)}')
                stats = np.stack([
                    a.numpy() for a in self.intersect_and_union(
                        torch.from_numpy(filled), gt.to(torch.int64),
                        num_classes, self.ignore_index)
                ]).astype(np.int64)
            result = dict(stats=stats, counts=counts)
            self._save_result(sample, result)
            self.results.append(result)

    # ------------------------------------------------------------------
    def compute_metrics(self, results: list) -> Dict[str, float]:
        """mmseg's metrics of the filled masks plus the filled fractions."""
        logger: MMLogger = MMLogger.get_current_instance()
        counts = np.sum([r['counts'] for r in results], axis=0)
        total = max(int(counts[3]), 1)

        def pct(n) -> float:
            return float(np.round(100.0 * int(n) / total, 2))

        fractions = OrderedDict(
            filled_pct=pct(counts[0]),
            prev_ignored_pct=pct(counts[1]),
            changed_pct=pct(counts[2]))
        if self.format_only:
            metrics = OrderedDict()
        else:
            stats = np.sum([r['stats'] for r in results], axis=0)
            # the per-class table (logged) and the metrics of IoUMetric
            metrics = OrderedDict(super().compute_metrics(
                [tuple(torch.from_numpy(s) for s in stats)]))
        metrics.update(fractions)
        summary = (f'relabel (fill={self.fill}) of {len(results)} images: '
                   f'{fractions["filled_pct"]:.2f}% of the pixels filled '
                   f'({fractions["prev_ignored_pct"]:.2f}% were ignored), '
                   f'{fractions["changed_pct"]:.2f}% changed')
        if 'mIoU' in metrics:
            summary += f'; mIoU of the filled masks {metrics["mIoU"]:.2f}'
        print_log(summary, logger=logger)
        if self.output_dir is not None:
            report = dict(
                fill=self.fill,
                prev_mask_dir=self.prev_mask_dir,
                num_images=len(results),
                pixels={k: int(v)
                        for k, v in zip(COUNT_NAMES, counts)},
                metrics={k: round(float(v), 2)
                         for k, v in metrics.items()})
            atomic_write_bytes(
                osp.join(self.output_dir, 'relabel_eval.json'),
                json.dumps(report, indent=2).encode())
        return metrics
