# Copyright (c) OpenMMLab. All rights reserved.
"""Pseudo-mask writing and scoring, with a background sweep and CRF."""
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS

from mmwsss.models.refiners.dense_crf import build_dense_crf
from mmwsss.models.utils.cam_utils import (cams_to_label, cams_to_probs,
                                           check_bg_rule, power_to_threshold)
from mmwsss.utils.io import atomic_write_bytes, save_npz_atomic, \
    save_palette_png
from .image_cache import ImageResultCacheMixin

__all__ = ['PseudoMaskMetric', 'otsu_threshold']

DEFAULT_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 19))
DEFAULT_ALPHAS = (1, 2, 4, 8, 12, 16, 24, 32)
HIST_BINS = 100


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


def _equivalent_threshold(rule: Dict) -> float:
    return float(rule['thr']) if rule['type'] == 'threshold' else \
        power_to_threshold(float(rule['alpha']))


@METRICS.register_module()
class PseudoMaskMetric(ImageResultCacheMixin, IoUMetric):
    """Write CAM pseudo masks and score them, sweeping the background rule.

    Consumes the outputs of :class:`~mmwsss.models.CAMSegmentor` (``cams``,
    ``cam_labels``, ``cam_bg_rule``) and, per image:

    1. builds the label map of the model's background rule (the *output*
       setting), refined by the dense CRF when ``crf`` is set, and writes it
       to ``output_dir/<image id>.png`` as a palette PNG (atomically);
    2. scores label maps for every value of a background sweep, without and
       (when ``crf`` is set) with the CRF, against the ground truth with
       mmseg's :meth:`IoUMetric.intersect_and_union`;
    3. accumulates the histogram of ``max_k A_k`` over the pixels of images
       that have a foreground class, for the ground-truth-free threshold.

    At the end it logs one table (background value x CRF off/on) and
    reports side by side, labelled as such:

    - the **oracle** value: the sweep value with the best mIoU against the
      ground truth. Published "pseudo-mask mIoU" numbers are mostly of this
      kind (SEAM#31, ReCAM#3); it is an upper bound, not a usable setting;
    - the **GT-free** value: Otsu's threshold of the CAM-maximum histogram
      (snapped to the nearest swept value), chosen without any mask;
    - the **configured** value: the model's ``test_cfg.bg``, or, when
      the samples carry their own ``bg_score`` (a refiner's background,
      e.g. the propagated one of :class:`~mmwsss.models.AffinityNet`,
      whose rule then has ``output='propagated'``), the argmax over that
      background and the maps, or, when the rule has ``output='model'``,
      the model's own ``pred_sem_seg`` (e.g. Algorithm 1 of
      :class:`~mmwsss.models.ClassPatternSegmentor`, whose uncertain pixels
      are ``ignore_index``: they count as missed, never as right, and their
      share is reported as ``output_ignored_pct``). The sweep always uses
      the rule family on the maps.

    Resume: with ``output_dir`` set, each image's statistics are saved to
    ``output_dir/.stats/<id>.npz`` after its PNG; a
    :class:`~mmwsss.engine.ResumableTestLoop` then skips the model for
    images that are finished (:meth:`load_finished`), so a killed run
    continues where it stopped. Distributed runs shard the images as
    mmseg's IoUMetric does.

    Args:
        sweep (Sequence[float], optional): Background values to score:
            thresholds when the model's rule is ``threshold`` (default
            0.05, 0.10, ..., 0.90), exponents when it is ``power`` (default
            1, 2, 4, 8, 12, 16, 24, 32).
        crf (str | dict, optional): Dense CRF preset name (``'psa'``,
            ``'irn'``, ``'deeplab-v2'``) or a
            :class:`~mmwsss.models.DenseCRF` config. Defaults to None.
        crf_sweep (Sequence[float], optional): The sweep values at which the
            CRF column is computed (the CRF costs far more than the sweep
            without it). Defaults to None (every sweep value).
        crf_workers (int): Processes for the CRF of the sweep of one image.
            Defaults to 1.
        crf_images (str): Which images get the CRF: ``'all'`` or
            ``'single_class'`` (images with exactly one foreground class;
            Luo & Yang apply the CRF only to those, as multi-class images
            "tend to be more cluttered"). The others keep their masks in
            every CRF setting. Defaults to 'all'.
        save_cams (bool): Also save ``output_dir/cams/<id>.npz`` with the
            normalised CAMs (float16) and their class indices. Defaults to
            False.
        output_dir (str, optional): Where pseudo masks go. Defaults to None.
        format_only (bool): Only write masks; there is no ground truth.
            Defaults to False.
        **kwargs: :class:`~mmseg.evaluation.IoUMetric` arguments
            (``ignore_index``, ``prefix``, ``collect_device``...).
    """

    cache_keys = ('stats', 'hist', 'ignored', 'rule')

    def __init__(self,
                 sweep: Optional[Sequence[float]] = None,
                 crf: Union[None, str, Dict] = None,
                 crf_sweep: Optional[Sequence[float]] = None,
                 crf_workers: int = 1,
                 crf_images: str = 'all',
                 save_cams: bool = False,
                 output_dir: Optional[str] = None,
                 format_only: bool = False,
                 **kwargs) -> None:
        super().__init__(
            output_dir=output_dir, format_only=format_only, **kwargs)
        self.sweep = None if sweep is None else tuple(float(v) for v in sweep)
        self.crf_sweep = None if crf_sweep is None else tuple(
            float(v) for v in crf_sweep)
        self.crf = build_dense_crf(crf)
        self.crf_workers = int(crf_workers)
        if crf_images not in ('all', 'single_class'):
            raise ValueError("crf_images must be 'all' or 'single_class', "
                             f'got {crf_images!r}')
        self.crf_images = crf_images
        self.save_cams = save_cams
        self._pool = None
        self._make_cache_dir()
        if self.output_dir and is_main_process():
            if save_cams:
                os.makedirs(osp.join(self.output_dir, 'cams'), exist_ok=True)

    # ------------------------------------------------------------------
    @property
    def signature(self) -> Dict:
        """Settings that change the cached per-image statistics."""
        return dict(
            sweep=self.sweep,
            crf=None if self.crf is None else self.crf.params,
            crf_sweep=self.crf_sweep,
            crf_images=self.crf_images,
            ignore_index=self.ignore_index,
            num_classes=len(self.dataset_meta['classes'])
            if self.dataset_meta else None)

    def _sweep_rules(self, rule: Dict, crf: bool = False) -> List[Dict]:
        key = 'thr' if rule['type'] == 'threshold' else 'alpha'
        values = self.sweep or (
            DEFAULT_THRESHOLDS if key == 'thr' else DEFAULT_ALPHAS)
        if crf and self.crf_sweep is not None:
            values = [v for v in values if v in self.crf_sweep]
        return [{'type': rule['type'], key: v} for v in values]

    def _settings(self, rule: Dict) -> List[Tuple[Dict, bool]]:
        """``(rule, crf)`` pairs; the first is the output setting."""
        out = [(rule, self.crf is not None)]
        out += [(r, False) for r in self._sweep_rules(rule)]
        if self.crf is not None:
            out += [(r, True) for r in self._sweep_rules(rule, crf=True)]
        return out

    # ------------------------------------------------------------------
    def _crf_labels(self,
                    image: np.ndarray,
                    cams: torch.Tensor,
                    labels: torch.Tensor,
                    rules: List[Dict],
                    bg_score: Optional[torch.Tensor] = None) -> List:
        probs = [cams_to_probs(cams, r, bg_score).numpy() for r in rules]
        if self.crf_workers > 1 and len(rules) > 1:
            if self._pool is None:
                import multiprocessing as mp
                self._pool = mp.get_context('spawn').Pool(self.crf_workers)
            refined = self._pool.starmap(self.crf,
                                         [(image, p) for p in probs])
        else:
            refined = [self.crf(image, p) for p in probs]
        lut = torch.cat([labels.new_zeros(1), labels])
        return [lut[torch.from_numpy(np.asarray(q).argmax(0))] for q in refined]

    def _crf_model_labels(self, image: np.ndarray, mask: torch.Tensor,
                          labels: torch.Tensor) -> torch.Tensor:
        """CRF of a model's hard mask (ignored pixels stay ignored).

        The unary is the mask itself: one-hot over background and the
        image's classes (uncertain pixels uniform), so a label-unary preset
        (``'irn'``: ``gt_prob=0.7``) is the natural choice.
        """
        lut = torch.cat([labels.new_zeros(1), labels.to(torch.int64)])
        probs = torch.zeros((len(lut), ) + tuple(mask.shape))
        for ch, cls in enumerate(lut.tolist()):
            probs[ch][mask == cls] = 1.0
        unsure = probs.sum(0) == 0
        probs[:, unsure] = 1.0 / len(lut)
        refined = np.asarray(self.crf(image, probs.numpy())).argmax(0)
        out = lut[torch.from_numpy(refined)]
        out[unsure] = self.ignore_index
        return out

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Write, score and cache each image's pseudo mask."""
        num_classes = len(self.dataset_meta['classes'])
        palette = self.dataset_meta.get('palette')
        for sample in data_samples:
            if 'cams' not in sample:
                raise KeyError(
                    'PseudoMaskMetric needs the outputs of a CAMSegmentor '
                    '("cams", "cam_labels"); got a sample of '
                    f"{sample.get('img_path')} without them")
            cams = sample['cams'].float().cpu()
            labels = sample['cam_labels'].cpu().to(torch.int64)
            rule = check_bg_rule(dict(sample['cam_bg_rule']))
            settings = self._settings(rule)
            model_out = rule.get('output') == 'model'
            if model_out and 'pred_sem_seg' not in sample:
                raise KeyError(
                    "a background rule with output='model' needs the "
                    "model's pred_sem_seg; the sample of "
                    f"{sample.get('img_path')} has none")
            # images without the CRF keep their masks in the CRF settings
            use_crf = self.crf is not None and (
                self.crf_images == 'all' or len(labels) == 1)
            # a refiner's own background (e.g. AffinityNet's propagated one)
            # decides the output setting; the sweep keeps the rule family
            bg_out = sample.get('bg_score')
            if bg_out is not None:
                bg_out = bg_out.float().cpu().reshape((1, ) + cams.shape[1:])
            maps: Dict[Tuple[str, bool], torch.Tensor] = {}
            for r, crf_flag in settings:
                if not crf_flag:
                    maps[(_rule_key(r), False)] = cams_to_label(cams, labels, r)
            image = None
            if use_crf:
                image = mmcv.imread(sample['img_path'], channel_order='rgb')
                if image is None:
                    raise OSError(f"cannot read image {sample['img_path']}")
                if image.shape[:2] != tuple(cams.shape[-2:]):
                    image = mmcv.imresize(image, cams.shape[-1:-3:-1])
            # the CRF maps of the rules (the output's only without bg_out)
            crf_rules = {
                _rule_key(r): r
                for i, (r, f) in enumerate(settings)
                if f and not (i == 0 and (bg_out is not None or model_out))
            }
            if not use_crf:
                for key in crf_rules:
                    maps[(key, True)] = maps[(key, False)]
            elif crf_rules:
                for key, lbl in zip(
                        crf_rules,
                        self._crf_labels(image, cams, labels,
                                         list(crf_rules.values()))):
                    maps[(key, True)] = lbl
            out_rule, out_crf = settings[0]
            if model_out:
                out_map = sample['pred_sem_seg']['data'].cpu().to(
                    torch.int64)
                out_map = out_map[0] if out_map.ndim == 3 else out_map
                if out_crf and use_crf:
                    out_map = self._crf_model_labels(image, out_map, labels)
            elif bg_out is None:
                out_map = maps[(_rule_key(out_rule), out_crf)]
            elif out_crf and use_crf:
                out_map = self._crf_labels(image, cams, labels, [out_rule],
                                           bg_out)[0]
            else:
                out_map = cams_to_label(cams, labels, out_rule, bg_out)
            if self.output_dir is not None:
                image_id = self._image_id(sample)
                save_palette_png(
                    osp.join(self.output_dir, image_id + '.png'),
                    out_map.numpy(), palette)
                if self.save_cams:
                    save_npz_atomic(
                        osp.join(self.output_dir, 'cams', image_id + '.npz'),
                        cams=cams.numpy().astype(np.float16),
                        labels=labels.numpy())
            if cams.shape[0]:
                peak = cams.max(dim=0).values.numpy().ravel()
                hist = np.histogram(
                    peak, bins=HIST_BINS, range=(0.0, 1.0))[0]
            else:
                hist = np.zeros(HIST_BINS, dtype=np.int64)
            if self.format_only:
                stats = np.zeros((len(settings), 4, num_classes), np.int64)
            else:
                gt = sample['gt_sem_seg']['data'].cpu()
                gt = gt[0] if gt.ndim == 3 else gt
                if gt.shape != out_map.shape:
                    raise ValueError(
                        f"ground truth of {sample['img_path']} has shape "
                        f'{tuple(gt.shape)} but the CAMs have '
                        f'{tuple(out_map.shape)}')
                setting_maps = [out_map] + [
                    maps[(_rule_key(r), f)] for r, f in settings[1:]
                ]
                stats = np.stack([
                    np.stack([
                        a.numpy() for a in self.intersect_and_union(
                            m, gt, num_classes, self.ignore_index)
                    ]) for m in setting_maps
                ]).astype(np.int64)
            ignored = np.array(
                [int((out_map == self.ignore_index).sum()), out_map.numel()],
                dtype=np.int64)
            result = dict(
                stats=stats,
                hist=hist.astype(np.int64),
                ignored=ignored,
                rule=json.dumps(rule, sort_keys=True))
            self._save_result(sample, result)
            self.results.append(result)

    def evaluate(self, size: int) -> dict:
        """Close the CRF worker pool on every rank, then evaluate."""
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None
        return super().evaluate(size)

    # ------------------------------------------------------------------
    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Reduce per-image statistics into the table and the metrics."""
        logger: MMLogger = MMLogger.get_current_instance()
        rules = {r['rule'] for r in results}
        if len(rules) > 1:
            raise ValueError(
                'the pseudo masks were made with different background rules '
                f'{sorted(rules)} (a resumed run with a changed model '
                'test_cfg.bg?); use a new output_dir')
        if self.format_only:
            logger.info(f'pseudo masks written to {self.output_dir}')
            return OrderedDict()
        rule = json.loads(rules.pop())
        settings = self._settings(rule)
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

        per_setting = [miou(k) for k in range(len(settings))]
        sweep_rules = self._sweep_rules(rule)
        n = len(sweep_rules)
        table_no = per_setting[1:1 + n]
        table_crf = None
        if self.crf is not None:
            crf_miou = {
                _rule_key(r): v
                for (r, _), v in zip(settings[1 + n:], per_setting[1 + n:])
            }
            table_crf = [crf_miou.get(_rule_key(r)) for r in sweep_rules]
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
        done = [] if table_crf is None else [
            i for i, v in enumerate(table_crf) if v is not None
        ]
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
        print_log('\n' + '\n'.join(lines), logger=logger)
        report = dict(
            configured=dict(rule=rule, crf=self.crf is not None,
                            crf_images=self.crf_images,
                            mIoU=per_setting[0],
                            ignored_pct=ignored_pct),
            sweep=[
                dict(
                    rule=r,
                    mIoU=table_no[i],
                    mIoU_crf=None if table_crf is None else table_crf[i])
                for i, r in enumerate(sweep_rules)
            ],
            oracle_gt_tuned=dict(rule=sweep_rules[best], mIoU=table_no[best]),
            gt_free_otsu=dict(
                otsu_threshold=gt_free_t,
                rule=sweep_rules[gt_free],
                mIoU=table_no[gt_free]),
            crf=None if self.crf is None else self.crf.params,
            num_images=len(results))
        if self.output_dir is not None:
            atomic_write_bytes(
                osp.join(self.output_dir, 'pseudo_mask_eval.json'),
                json.dumps(report, indent=2).encode())
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
