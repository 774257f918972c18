# Copyright (c) OpenMMLab. All rights reserved.
"""Pseudo-mask scoring, with a background sweep, oracle and GT-free rows."""
import json
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.logging import MessageHub, MMLogger, print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS
from torch import Tensor

from mmwsss.models.utils.cam_utils import (background_score, channel_argmax,
                                           check_bg_rule, power_to_threshold)

__all__ = ['PseudoMaskMetric', 'otsu_threshold', 'sweep_area_stats',
           'SWEEP_INFO']

#: The message hub runtime-info key of the last scored sweep.
SWEEP_INFO = 'pseudo_mask_sweep'

DEFAULT_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 19))
DEFAULT_ALPHAS = (1, 2, 4, 8, 12, 16, 24, 32)
HIST_BINS = 100
# keys of the former PseudoMaskMetric that are ``model.test_cfg`` keys now
MOVED_TO_MODEL = ('crf', 'crf_sweep', 'crf_workers', 'crf_images')


def otsu_threshold(hist: np.ndarray) -> float:
    """Otsu's threshold of a histogram over ``[0, 1]``.

    Picks the bin edge ``t`` maximising the between-class variance
    ``w0(t) w1(t) (mu0(t) - mu1(t))^2`` of the two groups of values below
    and above ``t`` (Otsu, IEEE TSMC 1979).

    Args:
        hist (np.ndarray): Counts of ``n`` equal bins covering ``[0, 1]``.

    Returns:
        float: The threshold (a bin edge), or 0.5 for an empty histogram.
    """
    hist = np.asarray(hist, dtype=np.float64)
    total = hist.sum()
    if total <= 0:
        return 0.5
    n = len(hist)
    centers = (np.arange(n) + 0.5) / n
    w0 = np.cumsum(hist)[:-1]
    w1 = total - w0
    m0 = np.cumsum(hist * centers)[:-1]
    m1 = (hist * centers).sum() - m0
    with np.errstate(divide='ignore', invalid='ignore'):
        between = w0 * w1 * (m0 / w0 - m1 / w1)**2
    between = np.nan_to_num(between, nan=-1.0)
    return float((np.argmax(between) + 1) / n)


def _rule_key(rule: Dict) -> str:
    return (f"thr={float(rule['thr']):g}" if rule['type'] == 'threshold' else
            f"alpha={float(rule['alpha']):g}")


def _rule_value(rule: Dict) -> Tuple[str, float]:
    key = 'thr' if rule['type'] == 'threshold' else 'alpha'
    return rule['type'], float(rule[key])


def _equivalent_threshold(rule: Dict) -> float:
    return float(rule['thr']) if rule['type'] == 'threshold' else \
        power_to_threshold(float(rule['alpha']))


def _confusion_to_stats(conf: np.ndarray, num_classes: int) -> np.ndarray:
    """``(4, C)`` areas of mmseg's ``intersect_and_union`` from a confusion.

    Args:
        conf (np.ndarray): ``(..., C + 1, C + 1)`` pixel counts of (ground
            truth, prediction) over the non-ignored pixels; index ``C``
            gathers every value outside ``[0, C - 1]``.
        num_classes (int): ``C``.

    Returns:
        np.ndarray: ``(..., 4, C)`` int64 intersection, union, predicted
        and ground-truth areas, in ``intersect_and_union``'s order.
    """
    c = num_classes
    inter = np.diagonal(conf, axis1=-2, axis2=-1)[..., :c]
    pred = conf[..., :, :c].sum(-2)
    label = conf[..., :c, :].sum(-1)
    return np.stack([inter, pred + label - inter, pred, label],
                    axis=-2).astype(np.int64)


def _class_index(values: np.ndarray, num_classes: int) -> np.ndarray:
    """Values in ``[0, C - 1]`` as they are, every other value as ``C``."""
    return np.where((values >= 0) & (values < num_classes), values,
                    num_classes)


def sweep_area_stats(cams: Tensor, labels: Tensor, rules: Sequence[Dict],
                     gt: Tensor, num_classes: int,
                     ignore_index: int) -> np.ndarray:
    """Areas of ``cams_to_label(cams, labels, r)`` against ``gt``, every r.

    Equal, value for value, to mmseg's ``IoUMetric.intersect_and_union``
    of each rule's label map, from one pass over the pixels: a pixel's
    label under the rule family is its argmax class where it is foreground
    and the background elsewhere, and it is foreground for a set of
    values nested along the sweep (thresholds ``t``: ``max A > t``, the
    float32 comparison of :func:`~mmwsss.models.utils.cams_to_label`;
    exponents ``alpha``: ``max A > (1 - max A)^alpha``, computed exactly as
    ``background_score`` does and checked to be nested, otherwise each
    value is counted on its own). One histogram over (ground truth, argmax
    class, number of values at which the pixel is foreground) then gives
    the confusion matrix of every value.

    Args:
        cams (Tensor): ``(L, H, W)`` float32 normalised maps (CPU).
        labels (Tensor): ``(L, )`` class index of each map.
        rules (Sequence[dict]): Background rules of one family.
        gt (Tensor): ``(H, W)`` ground truth.
        num_classes (int): ``C``.
        ignore_index (int): Ground-truth label to ignore.

    Returns:
        np.ndarray: ``(len(rules), 4, C)`` int64.
    """
    n, c = len(rules), num_classes
    if not n:
        return np.zeros((0, 4, c), np.int64)
    gt = gt.numpy().reshape(-1)
    valid = gt != ignore_index
    g = _class_index(gt[valid], c)
    size = c + 1
    if cams.shape[0]:
        peak = cams.max(dim=0).values
        arg = channel_argmax(cams)  # cams_to_label's tie-break
        lut = _class_index(labels.numpy().astype(np.int64), c)
        cls = lut[arg.numpy().reshape(-1)[valid]]
        peak_np = peak.numpy().reshape(-1)[valid]
    else:  # background everywhere
        cls = np.zeros_like(g)
        peak_np = np.zeros(len(g), np.float32)
    kind = rules[0]['type']
    if kind == 'threshold':
        # fg at t iff max A > float32(t): the count of values below max A
        values = np.array([float(r['thr']) for r in rules], np.float32)
        order = np.argsort(values, kind='stable')
        count = np.searchsorted(values[order], peak_np, side='left')
    else:
        # fg at alpha iff max A > (1 - max A)^alpha, computed by
        # background_score on the same (1, H, W) map as cams_to_label (so
        # that pow takes the same code path for each pixel); a larger
        # exponent gives more foreground
        values = np.array([float(r['alpha']) for r in rules])
        order = np.argsort(-values, kind='stable')
        if cams.shape[0]:
            fg = np.stack([(peak[None] > background_score(
                cams, rules[i])).numpy().reshape(-1)[valid] for i in order])
        else:
            fg = np.zeros((n, len(g)), bool)
        if n > 1 and (fg[1:] & ~fg[:-1]).any():  # not nested: one by one
            out = np.zeros((n, 4, c), np.int64)
            for j, i in enumerate(order):
                pred = np.where(fg[j], cls, 0)
                conf = np.bincount(
                    g * size + pred, minlength=size * size).reshape(
                        size, size)
                out[i] = _confusion_to_stats(conf, c)
            return out
        count = fg.sum(0)
    # fg at the j-th value of ``order`` iff j < count
    hist = np.bincount((g * size + cls) * (n + 1) + count,
                       minlength=size * size * (n + 1)).reshape(
                           size, size, n + 1)
    fg_sum = np.cumsum(hist[..., ::-1], axis=-1)[..., ::-1]  # count >= k
    # the j-th value: count > j is foreground (class cls), the rest is
    # background
    conf = np.moveaxis(fg_sum[..., 1:], -1, 0).copy()  # (n, G, P)
    conf[:, :, 0] = hist.sum((-2, -1))[None] - conf[:, :, 1:].sum(-1)
    out = np.empty((n, 4, c), np.int64)
    out[order] = _confusion_to_stats(conf, c)
    return out


def _map_stats(pred: Tensor, gt: Tensor, num_classes: int,
               ignore_index: int) -> np.ndarray:
    """``(4, C)`` areas of one label map, as ``intersect_and_union``."""
    c = num_classes
    gt = gt.numpy().reshape(-1)
    valid = gt != ignore_index
    size = c + 1
    conf = np.bincount(
        _class_index(gt[valid], c) * size +
        _class_index(pred.numpy().reshape(-1)[valid], c),
        minlength=size * size).reshape(size, size)
    return _confusion_to_stats(conf, c)


@METRICS.register_module()
class PseudoMaskMetric(IoUMetric):
    """Score pseudo masks, sweeping the background rule.

    Consumes the outputs of a stage-2 model
    (:class:`~mmwsss.models.CAMSegmentor`,
    :class:`~mmwsss.models.AffinityNet`,
    :class:`~mmwsss.models.ClassPatternSegmentor`): ``pred_sem_seg`` (the
    pseudo mask, after the model's optional dense CRF), ``cams``,
    ``cam_labels``, ``cam_bg_rule`` and, when the model ran the CRF,
    ``crf_sweep_preds`` / ``crf_sweep_rules``. Per image it

    1. scores the model's ``pred_sem_seg`` (the **configured** row: the
       model's ``test_cfg.bg``, a refiner's own background with
       ``output='propagated'``, or the model's own mask with
       ``output='model'``, whose uncertain pixels are ``ignore_index``:
       they count as missed, never as right, and their share is reported
       as ``output_ignored_pct``);
    2. scores the label maps of every value of a background sweep (the
       rule family on the maps, no CRF) and, when present, the model's
       CRF'd maps at its ``crf_sweep`` values (the CRF column), with the
       areas of mmseg's :meth:`IoUMetric.intersect_and_union` (the sweep
       from one histogram, see :func:`sweep_area_stats`);
    3. accumulates the histogram of ``max_k A_k`` over the pixels of images
       that have a foreground class, for the ground-truth-free threshold.

    At the end it logs one table (background value x CRF off/on) and
    reports side by side, labelled as such:

    - the **oracle** value: the sweep value with the best mIoU against the
      ground truth. Published "pseudo-mask mIoU" numbers are mostly of this
      kind (SEAM#31, ReCAM#3); it is an upper bound, not a usable setting;
    - the **GT-free** value: Otsu's threshold of the CAM-maximum histogram
      (snapped to the nearest swept value), chosen without any mask;
    - the **configured** value (``mIoU`` and the per-class table).

    The sweep is also published as the message hub's runtime info
    ``'pseudo_mask_sweep'`` (:data:`SWEEP_INFO`: ``values``, ``miou``,
    ``miou_crf``, ``marks`` = indices of the configured, oracle and
    GT-free values, ``xlabel``), which
    :class:`~mmwsss.engine.MaskGridHook` draws as a curve.

    It writes no file and solves no CRF: writing the masks is
    :class:`~mmwsss.engine.PredictionWriterHook`'s job, resuming a killed
    pass :class:`~mmwsss.engine.ResumableTestLoop`'s. Distributed runs
    shard the images as mmseg's IoUMetric does.

    Args:
        sweep (Sequence[float], optional): Background values to score:
            thresholds when the model's rule is ``threshold`` (default
            0.05, 0.10, ..., 0.90), exponents when it is ``power`` (default
            1, 2, 4, 8, 12, 16, 24, 32).
        **kwargs: :class:`~mmseg.evaluation.IoUMetric` arguments
            (``ignore_index``, ``prefix``, ``collect_device``,
            ``format_only``...).
    """

    def __init__(self, sweep: Optional[Sequence[float]] = None,
                 **kwargs) -> None:
        moved = [k for k in MOVED_TO_MODEL if k in kwargs]
        if moved:
            raise ValueError(
                f'PseudoMaskMetric got {moved}: the dense CRF of the pseudo '
                'masks is the model\'s post-processing now; set '
                f'model.test_cfg.{moved[0]} instead')
        if 'save_cams' in kwargs:
            raise ValueError(
                'PseudoMaskMetric got save_cams: the maps are written by '
                "dict(type='PredictionWriterHook', save_maps=True) in "
                'custom_hooks now')
        if kwargs.get('output_dir') is not None:
            raise ValueError(
                'PseudoMaskMetric writes no masks; set the out_dir of a '
                "dict(type='PredictionWriterHook') in custom_hooks "
                '(tools/test.py --out DIR) instead of output_dir')
        super().__init__(**kwargs)
        self.sweep = None if sweep is None else tuple(float(v) for v in sweep)

    def _sweep_rules(self, rule: Dict) -> List[Dict]:
        key = 'thr' if rule['type'] == 'threshold' else 'alpha'
        values = self.sweep or (
            DEFAULT_THRESHOLDS if key == 'thr' else DEFAULT_ALPHAS)
        return [{'type': rule['type'], key: v} for v in values]

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Score each image's pseudo mask, sweep and CRF column."""
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            if 'cams' not in sample:
                raise KeyError(
                    'PseudoMaskMetric needs the outputs of a CAMSegmentor '
                    '("cams", "cam_labels"); got a sample of '
                    f"{sample.get('img_path')} without them")
            if 'pred_sem_seg' not in sample:
                raise KeyError(
                    "PseudoMaskMetric scores the model's pseudo mask "
                    '"pred_sem_seg"; the sample of '
                    f"{sample.get('img_path')} has none")
            cams = sample['cams'].float().cpu()
            labels = sample['cam_labels'].cpu().to(torch.int64)
            rule = check_bg_rule(dict(sample['cam_bg_rule']))
            out_map = sample['pred_sem_seg']['data'].cpu().to(torch.int64)
            out_map = out_map[0] if out_map.ndim == 3 else out_map
            sweep_rules = self._sweep_rules(rule)
            # the sweep rows the model's CRF'd maps fill (None: no CRF)
            crf_rows = None
            crf_maps: List[Tensor] = []
            if 'crf_sweep_rules' in sample:
                preds = sample['crf_sweep_preds'].cpu().to(torch.int64)
                done = {
                    _rule_value(r): k
                    for k, r in enumerate(sample['crf_sweep_rules'])
                }
                crf_rows = [
                    i for i, r in enumerate(sweep_rules)
                    if _rule_value(r) in done
                ]
                crf_maps = [
                    preds[done[_rule_value(sweep_rules[i])]]
                    for i in crf_rows
                ]
            if cams.shape[0]:
                peak = cams.max(dim=0).values.numpy().ravel()
                hist = np.histogram(
                    peak, bins=HIST_BINS, range=(0.0, 1.0))[0]
            else:
                hist = np.zeros(HIST_BINS, dtype=np.int64)
            rows = 1 + len(sweep_rules) + len(crf_maps)
            if self.format_only:
                stats = np.zeros((rows, 4, num_classes), np.int64)
            else:
                gt = sample['gt_sem_seg']['data'].cpu()
                gt = gt[0] if gt.ndim == 3 else gt
                if gt.shape != out_map.shape:
                    raise ValueError(
                        f"ground truth of {sample['img_path']} has shape "
                        f'{tuple(gt.shape)} but the CAMs have '
                        f'{tuple(out_map.shape)}')
                stats = np.concatenate([
                    _map_stats(out_map, gt, num_classes,
                               self.ignore_index)[None],
                    sweep_area_stats(cams, labels, sweep_rules, gt,
                                     num_classes, self.ignore_index)
                ] + [
                    _map_stats(m, gt, num_classes, self.ignore_index)[None]
                    for m in crf_maps
                ])
            ignored = np.array(
                [int((out_map == self.ignore_index).sum()), out_map.numel()],
                dtype=np.int64)
            self.results.append(
                dict(
                    stats=stats,
                    hist=hist.astype(np.int64),
                    ignored=ignored,
                    rule=json.dumps(rule, sort_keys=True),
                    crf=json.dumps(crf_rows)))

    # ------------------------------------------------------------------
    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Reduce per-image statistics into the table and the metrics."""
        logger: MMLogger = MMLogger.get_current_instance()
        rules = {r['rule'] for r in results}
        if len(rules) > 1:
            raise ValueError(
                'the pseudo masks were made with different background rules '
                f'{sorted(rules)}; score one model setting at a time')
        crfs = {r['crf'] for r in results}
        if len(crfs) > 1:
            raise ValueError(
                'the pseudo masks were made with different CRF settings '
                f'(CRF sweep rows {sorted(crfs)}); score one model setting '
                'at a time')
        if self.format_only:
            logger.info('format_only: the pseudo masks are not scored')
            return OrderedDict()
        rule = json.loads(rules.pop())
        crf_rows = json.loads(crfs.pop())
        stats = np.sum([r['stats'] for r in results], axis=0)
        hist = np.sum([r['hist'] for r in results], axis=0)
        ignored = np.sum([r['ignored'] for r in results], axis=0)
        ignored_pct = float(
            np.round(100.0 * ignored[0] / max(int(ignored[1]), 1), 2))

        def miou(k: int) -> float:
            ret = self.total_area_to_metrics(
                *[torch.from_numpy(s) for s in stats[k]], ['mIoU'],
                self.nan_to_num, self.beta)
            return float(np.round(np.nanmean(ret['IoU']) * 100, 2))

        per_setting = [miou(k) for k in range(len(stats))]
        sweep_rules = self._sweep_rules(rule)
        n = len(sweep_rules)
        table_no = per_setting[1:1 + n]
        table_crf = None
        if crf_rows is not None:
            table_crf = [None] * n
            for i, v in zip(crf_rows, per_setting[1 + n:]):
                table_crf[i] = v
        best = int(np.argmax(table_no))
        gt_free_t = otsu_threshold(hist)
        eq = np.array([_equivalent_threshold(r) for r in sweep_rules])
        gt_free = int(np.argmin(np.abs(eq - gt_free_t)))

        # The per-class table of the output setting comes from IoUMetric.
        base = super().compute_metrics([tuple(
            torch.from_numpy(s) for s in stats[0])])
        metrics = OrderedDict(base)
        out_key = _rule_key(rule)
        metrics.update({
            'oracle_bg': float(eq[best]) if rule['type'] == 'threshold' else
            float(sweep_rules[best]['alpha']),
            'oracle_mIoU': table_no[best],
            'gt_free_bg': float(eq[gt_free]) if rule['type'] == 'threshold'
            else float(sweep_rules[gt_free]['alpha']),
            'gt_free_mIoU': table_no[gt_free],
            'output_ignored_pct': ignored_pct,
        })
        done = crf_rows or []
        if done:
            best_crf = max(done, key=lambda i: table_crf[i])
            near = min(done, key=lambda i: abs(eq[i] - gt_free_t))
            metrics.update({
                'oracle_mIoU_crf': table_crf[best_crf],
                'gt_free_mIoU_crf': table_crf[near],
            })
        lines = self._format_table(rule, sweep_rules, table_no, table_crf,
                                   best, gt_free, gt_free_t, out_key,
                                   per_setting[0])
        configured = None if rule.get('output') else next(
            (i for i, r in enumerate(sweep_rules) if _rule_key(r) == out_key),
            None)
        values = [
            r['thr'] if r['type'] == 'threshold' else r['alpha']
            for r in sweep_rules
        ]
        MessageHub.get_current_instance().update_info(
            SWEEP_INFO,
            dict(
                values=[float(v) for v in values],
                miou=[float(v) for v in table_no],
                miou_crf=table_crf,
                marks=dict(configured=configured, oracle=best,
                           gt_free=gt_free),
                xlabel='background threshold' if rule['type'] == 'threshold'
                else 'background exponent (alpha)'))
        print_log('\n' + '\n'.join(lines), logger=logger)
        return metrics

    @staticmethod
    def _format_table(rule, sweep_rules, table_no, table_crf, best, gt_free,
                      gt_free_t, out_key, out_miou) -> List[str]:
        name = 'bg thr' if rule['type'] == 'threshold' else 'bg alpha'
        head = f'| {name:>8} | mIoU (no CRF) |'
        if table_crf is not None:
            head += ' mIoU (CRF) |'
        head += ' note'
        lines = ['Pseudo-mask mIoU over the background sweep:', head,
                 '-' * len(head)]
        for i, r in enumerate(sweep_rules):
            value = r['thr'] if r['type'] == 'threshold' else r['alpha']
            row = f'| {value:>8g} | {table_no[i]:>12.2f} |'
            if table_crf is not None:
                row += f' {table_crf[i]:>10.2f} |' if table_crf[i] is not None \
                    else f' {"-":>10} |'
            notes = []
            if i == best:
                notes.append('oracle (GT-tuned, no CRF)')
            if i == gt_free:
                notes.append(f'GT-free (Otsu t={gt_free_t:.2f})')
            if _rule_key(r) == out_key and not rule.get('output'):
                notes.append('configured')
            lines.append(row + ' ' + ', '.join(notes))
        crf_txt = ' + CRF' if table_crf is not None else ''
        if rule.get('output'):
            out_key = f"background {rule['output']}"
        lines.append(f'configured ({out_key}{crf_txt}): mIoU {out_miou:.2f}; '
                     'oracle values are tuned on the ground truth and are '
                     'upper bounds, GT-free values use no mask.')
        return lines
