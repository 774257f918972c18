# Copyright (c) OpenMMLab. All rights reserved.
"""Train a model from an mmwsss (or mmseg) config.

Same arguments as mmsegmentation's ``tools/train.py`` (``--work-dir``,
``--resume``, ``--amp``, ``--cfg-options``, ``--launcher``), plus
``--data-root`` to point every dataloader of the config at a data set, and
a CPU fallback for distributed runs (gloo), which mmengine 0.10.7 lacks.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmwsss.apis import (apply_common_args,  # noqa: E402
                         load_tool_config, set_resume, setup_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        action='store_true',
        default=False,
        help='resume from the latest checkpoint in the work_dir '
        'automatically (never from the config\'s load_from, which only '
        'initialises a run that has no checkpoint yet)')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--data-root',
        help='set data_root of every dataset in the config (train, val and '
        'test dataloaders, including wrapped datasets)')
    parser.add_argument(
        '--seed', type=int, help='random seed (overrides randomness.seed)')
    parser.add_argument(
        '--metrics-json',
        help='write the metrics of the last validation to this JSON file '
        '(atomic; used by tools/run_pipeline.py)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # When using PyTorch version >= 2.0.0, the `torch.distributed.launch`
    # will pass the `--local-rank` parameter to `tools/train.py` instead
    # of `--local_rank`.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    """Train from the command line ``argv`` (default: ``sys.argv[1:]``).

    Callable in-process (``mmwsss.apis.run_tool_in_process('train.py',
    argv)``, the pipeline runner's ``in_process`` mode) as well as a script.
    """
    args = parse_args(argv)
    # work_dir priority: CLI > config > ./work_dirs/<config name>
    cfg = load_tool_config(args)
    apply_common_args(cfg, data_root=args.data_root, seed=args.seed)

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper == 'AmpOptimWrapper':
            print('AMP training is already enabled in your config.')
        else:
            assert optim_wrapper == 'OptimWrapper', (
                '`--amp` is only supported when the optimizer wrapper type '
                f'is `OptimWrapper` but got {optim_wrapper}.')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    # resume the work dir's latest checkpoint, not load_from (mmengine 0.10.7
    # resumes load_from when both are set)
    set_resume(cfg, args.resume)
    setup_distributed(cfg)
    if args.metrics_json:
        hooks = list(cfg.get('custom_hooks') or [])
        hooks.append(dict(type='MetricsJsonHook', path=args.metrics_json))
        cfg.custom_hooks = hooks

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        from mmseg.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    runner.train()


if __name__ == '__main__':
    main()
