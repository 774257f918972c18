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
import json
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmwsss.apis import apply_common_args, setup_distributed  # noqa: E402
from mmwsss.engine.hooks import metrics_to_jsonable  # noqa: E402
from mmwsss.utils import atomic_write_bytes  # noqa: E402


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


def configure_pattern_pass(cfg: Config, out_dir: str) -> Config:
    """Turn a ``ClassPatternSegmentor`` config into its pattern pass.

    Args:
        cfg (Config): The config (modified in place).
        out_dir (str): Folder of ``class_patterns.pth``.

    Returns:
        Config: ``cfg``.
    """
    if cfg.model.get('type') not in ('ClassPatternSegmentor',
                                     'mmseg.ClassPatternSegmentor'):
        raise ValueError(
            f'{cfg.filename}: model.type must be ClassPatternSegmentor for '
            f'the class-pattern pass, got {cfg.model.get("type")!r}')
    cfg.model.setdefault('test_cfg', {})
    cfg.model.test_cfg['class_patterns'] = None
    if cfg.get('pattern_dataloader') is not None:
        cfg.test_dataloader = cfg.pattern_dataloader
    # mmengine's DefaultSampler pads the shards of a distributed run with
    # repeated images (round_up); the sums would count those twice
    sampler = cfg.test_dataloader.get('sampler') or dict(
        type='DefaultSampler', shuffle=False)
    if sampler.get('type') in ('DefaultSampler', 'mmengine.DefaultSampler'):
        sampler['round_up'] = False
    cfg.test_dataloader['sampler'] = sampler
    evaluator = cfg.get('pattern_evaluator') or dict(
        type='ClassPatternMetric')
    evaluator = dict(evaluator)
    evaluator['output_dir'] = out_dir
    cfg.test_evaluator = evaluator
    return cfg


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    # the pattern dataloader becomes the test dataloader first, so that
    # --data-root reaches it
    configure_pattern_pass(cfg, args.out or cfg.work_dir)
    apply_common_args(cfg, data_root=args.data_root)
    cfg.load_from = args.checkpoint
    # no visualisation of a feature pass
    if 'visualization' in cfg.get('default_hooks', {}):
        cfg.default_hooks.visualization.draw = False
    setup_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.metrics_json and is_main_process():
        atomic_write_bytes(
            args.metrics_json,
            json.dumps(metrics_to_jsonable(metrics), indent=2).encode())


if __name__ == '__main__':
    main()
