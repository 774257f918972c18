# Copyright (c) OpenMMLab. All rights reserved.
"""Re-score the saved maps of finished pseudo-mask stages over another
background sweep, without running a model.

A pipeline's pseudo-mask stage (``kind='test'`` with ``out=True``) writes
each image's mask (``MASKS/<name>.png``) and its normalised class maps
(``MASKS/cams/<name>.npz``: ``cams`` ``(L, H, W)`` float16 and ``labels``
``(L, )``, :class:`~mmwsss.engine.PredictionWriterHook`). When the oracle
background of a finished run sits at an end of the sweep it was scored
with, this script scores the same maps over a wider sweep with the same
metric, :class:`~mmwsss.evaluation.PseudoMaskMetric`: the configured row
is the saved mask, the sweep rows come from the saved maps.

The maps are stored in float16, the run scored them in float32: a pixel
whose maximum lies within float16's rounding of a swept value can change
side. The script therefore also re-scores the sweep of the run's own
config and reports the largest difference to the run's ``metrics``
(``stage.json``), so that the re-scored numbers come with their own check.

Usage (from the repository whose ``data/`` the stages read)::

    python benchmarks/rescore_pseudo_masks.py \\
        work_dirs/seed_runs/spml_comparison_synthetic/seed_*/seed_*/{cams,*_masks} \\
        --out benchmarks/results/spml_wide_sweep_synthetic.json
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, Iterator, List, Sequence

import numpy as np
import torch
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)


def _samples(stage_dir: str, dataset, rule: Dict) -> Iterator[Dict]:
    """The metric's input of each image of the stage's test set, one at a
    time (a VOC-sized split does not fit in memory at once)."""
    from mmwsss.visualization import load_cams

    masks = osp.join(stage_dir, 'masks')
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        name = osp.splitext(osp.basename(info['img_path']))[0]
        maps_file = osp.join(masks, 'cams', name + '.npz')
        mask_file = osp.join(masks, name + '.png')
        for f in (maps_file, mask_file):
            if not osp.isfile(f):
                raise FileNotFoundError(
                    f'{f}: no saved output for {info["img_path"]} (was the '
                    "stage run with out=True and the maps saved?)")
        cams, labels = map(
            torch.from_numpy,
            load_cams(osp.join(masks, 'cams'), name, with_labels=True))
        pred = torch.from_numpy(np.array(Image.open(mask_file), np.int64))
        gt = torch.from_numpy(
            np.array(Image.open(info['seg_map_path']), np.int64))
        yield dict(
            img_path=info['img_path'],
            cams=cams,
            cam_labels=labels,
            cam_bg_rule=rule,
            pred_sem_seg=dict(data=pred[None]),
            gt_sem_seg=dict(data=gt[None]))


def rescore(stage_dir: str, sweep: Sequence[float]) -> Dict:
    """Score one stage's saved maps over its own sweep and over ``sweep``.

    Returns:
        dict: ``recorded`` (the run's metrics), ``own_sweep`` and
        ``wide_sweep`` (each: ``values``, ``miou`` per value, the metric's
        ``oracle_*`` / ``gt_free_*`` / ``mIoU``), and
        ``max_abs_diff_own_vs_recorded`` over the metrics they share.
    """
    from mmengine.config import Config
    from mmengine.logging import MessageHub
    from mmseg.registry import DATASETS

    from mmwsss.evaluation import PseudoMaskMetric
    from mmwsss.evaluation.metrics.pseudo_mask_metric import SWEEP_INFO

    with open(osp.join(stage_dir, 'stage.json')) as f:
        record = json.load(f)
    cfg = Config.fromfile(osp.join(stage_dir, 'stage_config.py'))
    test_cfg = cfg.model.get('test_cfg', {})
    # the rule family the model reported (SPML: sweep_bg, the others: bg;
    # both default to a threshold); its value does not change the scores:
    # the configured row is the saved mask
    rule = test_cfg.get('sweep_bg', test_cfg.get('bg'))
    rule = dict(rule or dict(type='threshold', thr=0.25), output='saved')
    own = cfg.test_evaluator.get('sweep')
    out = dict(stage=stage_dir, recorded=record.get('metrics', {}), rule=rule)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    # both sweeps from one read of the files
    metrics = dict(own_sweep=PseudoMaskMetric(sweep=own),
                   wide_sweep=PseudoMaskMetric(sweep=sweep))
    for metric in metrics.values():
        metric.dataset_meta = dict(classes=dataset.metainfo['classes'])
    for sample in _samples(stage_dir, dataset, rule):
        for metric in metrics.values():
            metric.process({}, [sample])
    for key, metric in metrics.items():
        res = metric.compute_metrics(metric.results)
        info = MessageHub.get_current_instance().get_info(SWEEP_INFO)
        out[key] = dict(
            values=info['values'],
            miou=[round(float(v), 2) for v in info['miou']],
            **{
                k: round(float(res[k]), 2)
                for k in ('mIoU', 'oracle_bg', 'oracle_mIoU', 'gt_free_bg',
                          'gt_free_mIoU')
            })
    shared = [
        k for k in ('mIoU', 'oracle_mIoU', 'gt_free_mIoU')
        if k in out['recorded']
    ]
    out['max_abs_diff_own_vs_recorded'] = max(
        (round(abs(out['own_sweep'][k] - out['recorded'][k]), 2)
         for k in shared),
        default=None)
    return out


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('stages', nargs='+', help='pseudo-mask stage dirs')
    parser.add_argument(
        '--sweep',
        type=float,
        nargs='+',
        default=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.93, 0.95,
                 0.97, 0.99],
        help='background values to score: thresholds, or exponents when '
        "the stage's rule is a power rule (the GT-free value is Otsu's "
        'threshold snapped to the nearest of them)')
    parser.add_argument('--out', required=True, help='JSON to write')
    args = parser.parse_args(argv)

    import mmwsss  # noqa: F401  (registers the datasets)
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')

    rows = []
    for stage in args.stages:
        row = rescore(stage, args.sweep)
        rows.append(row)
        wide = row['wide_sweep']
        print(f'{stage}: oracle {row["recorded"].get("oracle_mIoU")} at '
              f'{row["recorded"].get("oracle_bg")} -> {wide["oracle_mIoU"]} '
              f'at {wide["oracle_bg"]} (own sweep re-scored off by '
              f'{row["max_abs_diff_own_vs_recorded"]})')
    tmp = args.out + '.tmp'
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(tmp, 'w') as f:
        json.dump(dict(sweep=args.sweep, stages=rows), f, indent=1)
    os.replace(tmp, args.out)


if __name__ == '__main__':
    main()
