# Copyright (c) OpenMMLab. All rights reserved.
"""The class-pattern pass of Luo & Yang (AAAI 2020).

Runs a trained classifier (a ``ClassPatternSegmentor`` config) over the
images of the config's ``pattern_dataloader`` (the training split with at
most ``max_images_per_class`` images per class; the config's
``test_dataloader`` when it has none), accumulates the per-class mean and
covariance of the features of ``model.feature_layer`` in one streaming
pass, and writes ``<out>/class_patterns.pth``, which
``model.test_cfg.class_patterns`` then reads to make pseudo masks with
``tools/test.py``::

    python tools/extract_class_patterns.py CONFIG CHECKPOINT --out DIR
    python tools/test.py CONFIG CHECKPOINT --out MASKS \\
        --cfg-options model.test_cfg.class_patterns=DIR/class_patterns.pth

The evaluator is the config's ``pattern_evaluator`` (default
``dict(type='ClassPatternMetric')``). Distributed runs (``--launcher
pytorch``, ``tools/dist_test.sh``-style) split the images and sum the
statistics of all processes.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmwsss.apis import (apply_common_args,  # noqa: E402
                         configure_pattern_pass, load_tool_config,
                         setup_distributed, write_metrics_json)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Extract the class patterns of Luo & Yang (AAAI 2020)')
    parser.add_argument('config', help='ClassPatternSegmentor config file')
    parser.add_argument('checkpoint', help='classifier checkpoint')
    parser.add_argument(
        '--out',
        help='folder of class_patterns.pth (default: <work_dir>)')
    parser.add_argument('--work-dir', help='the logs go here')
    parser.add_argument(
        '--data-root', help='set data_root of every dataset in the config')
    parser.add_argument(
        '--metrics-json',
        help='also write the returned metrics to this JSON file (atomic)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    cfg = load_tool_config(args)
    # the pattern dataloader becomes the test dataloader first, so that
    # --data-root reaches it
    configure_pattern_pass(cfg, args.out or cfg.work_dir)
    apply_common_args(cfg, data_root=args.data_root)
    cfg.load_from = args.checkpoint
    setup_distributed(cfg)
    metrics = Runner.from_cfg(cfg).test()
    write_metrics_json(args.metrics_json, metrics)


if __name__ == '__main__':
    main()
