# Copyright (c) OpenMMLab. All rights reserved.
"""Score relabelled pseudo masks.

The retraining step of Luo & Yang, `Learning Saliency-Free Model with
Generic Features for Weakly-Supervised Semantic Segmentation
<https://ojs.aaai.org/index.php/AAAI/article/view/6842>`_ (AAAI 2020): the
segmentation network trained on the pseudo masks predicts the training
images, its predictions fill the uncertain (ignored) pixels of the masks, and
the network is retrained once from scratch on the filled masks (60.3 -> 64.5
mIoU on VOC val in the paper). The filling is the model's
(:class:`~mmwsss.models.RelabelSegmentor`), the writing a hook's; this
metric scores.
"""
from collections import OrderedDict
from typing import Dict, Sequence

import numpy as np
import torch
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

__all__ = ['RelabelMetric']

# per-image pixel counts: filled, ignored in prev, changed, total
COUNT_NAMES = ('filled', 'prev_ignored', 'changed', 'total')


def _as_2d(data) -> torch.Tensor:
    data = data.cpu() if isinstance(data, torch.Tensor) else \
        torch.as_tensor(np.asarray(data))
    return data[0] if data.ndim == 3 else data


@METRICS.register_module()
class RelabelMetric(IoUMetric):
    """Score filled pseudo masks and count what the filling changed.

    Per image, from the predicted sample of a
    :class:`~mmwsss.models.RelabelSegmentor`: its ``pred_sem_seg`` (the
    filled mask) against ``gt_sem_seg`` with mmseg's
    :meth:`IoUMetric.intersect_and_union` (skipped with ``format_only``),
    and, against the previous mask ``prev_key`` (when the sample has one),
    the filled pixels (ignored in the previous mask, labelled now), the
    changed pixels (labelled in both, differently) and all pixels.

    ``compute_metrics`` returns mmseg's metrics of the filled masks (with
    the per-class table in the log) plus ``filled_pct`` (100 x filled /
    all pixels), ``prev_ignored_pct`` and ``changed_pct``, and logs a
    summary with the pixel counts.

    Args:
        prev_key (str): The data field of the previous mask. Defaults to
            'prev_mask'.
        format_only (bool): No ground truth: only the fractions. Defaults
            to False.
        **kwargs: :class:`~mmseg.evaluation.IoUMetric` arguments
            (``ignore_index``, ``iou_metrics``, ``prefix``...).
    """

    def __init__(self,
                 prev_key: str = 'prev_mask',
                 format_only: bool = False,
                 **kwargs) -> None:
        for old in ('prev_mask_dir', 'fill', 'output_dir'):
            if old in kwargs:
                raise TypeError(
                    f'RelabelMetric: {old!r} is gone; the filling is '
                    "RelabelSegmentor's (model.fill), the previous masks "
                    'come from data_prefix.prev_mask_path and the masks are '
                    'written by tools/test.py --out')
        super().__init__(format_only=format_only, **kwargs)
        self.prev_key = prev_key

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Score each filled mask and count its filled/changed pixels."""
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            filled = _as_2d(sample['pred_sem_seg']['data']).to(torch.int64)
            prev = sample.get(self.prev_key)
            if prev is None:
                counts = np.array([0, 0, 0, filled.numel()], dtype=np.int64)
            else:
                prev = _as_2d(prev['data']).to(torch.int64)
                if prev.shape != filled.shape:
                    raise ValueError(
                        f'RelabelMetric: the previous mask of '
                        f"{sample.get('img_path')} has shape "
                        f'{tuple(prev.shape)} but the prediction '
                        f'{tuple(filled.shape)}')
                was_ignored = prev == self.ignore_index
                is_ignored = filled == self.ignore_index
                counts = np.array([
                    int((was_ignored & ~is_ignored).sum()),
                    int(was_ignored.sum()),
                    int((~was_ignored & ~is_ignored & (filled != prev)).sum()),
                    filled.numel()
                ],
                                  dtype=np.int64)
            if self.format_only:
                stats = np.zeros((4, num_classes), np.int64)
            else:
                gt = _as_2d(sample['gt_sem_seg']['data'])
                if gt.shape != filled.shape:
                    raise ValueError(
                        f"ground truth of {sample.get('img_path')} has shape "
                        f'{tuple(gt.shape)} but the prediction has '
                        f'{tuple(filled.shape)}')
                stats = np.stack([
                    a.numpy() for a in self.intersect_and_union(
                        filled, gt.to(torch.int64), num_classes,
                        self.ignore_index)
                ]).astype(np.int64)
            self.results.append(
                dict(
                    stats=stats,
                    counts=counts,
                    fill=str(sample.get('mask_fill', '-'))))

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
        pixels = ', '.join(f'{k}={int(v)}'
                           for k, v in zip(COUNT_NAMES, counts))
        fill = ','.join(sorted({str(r.get('fill', '-')) for r in results}))
        summary = (f'relabel (fill={fill}) of {len(results)} images: '
                   f'{fractions["filled_pct"]:.2f}% of the pixels filled '
                   f'({fractions["prev_ignored_pct"]:.2f}% were ignored), '
                   f'{fractions["changed_pct"]:.2f}% changed')
        if 'mIoU' in metrics:
            summary += f'; mIoU of the filled masks {metrics["mIoU"]:.2f}'
        print_log(f'{summary} (pixels: {pixels})', logger=logger)
        return metrics
