# Copyright (c) OpenMMLab. All rights reserved.
"""Run a whole WSSS chain from one pipeline config, resumably.

    python tools/run_pipeline.py PIPELINE_CONFIG [--work-dir DIR]
        [--nproc N] [--seed S] [--repeat N] [--data-root DIR] [--quiet]
        [--in-process]

The pipeline config lists its stages (``stages = [dict(name=..., kind=...,
config=..., inputs=..., report=...), ...]``); each runs in its own process
(with ``--in-process``: in this one, through the tool's ``main(argv)``)
with its outputs under ``WORK_DIR/seed_<s>/<stage>/``. Rerunning the same
command skips finished stages and resumes an interrupted one. The results
that the stages report are printed as a table at the end and written to
``WORK_DIR/results.json``. See ``mmwsss/apis/pipeline/graph.py`` for the
pipeline config keys.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmwsss.apis.pipeline import (PipelineError,  # noqa: E402
                                  PipelineRunner, load_pipeline_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Run a WSSS pipeline (a graph of train/test stages) '
        'from one config')
    parser.add_argument('config', help='pipeline config file')
    parser.add_argument(
        '--work-dir',
        help='where the stages write (default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--nproc',
        type=int,
        help='processes per stage (torch.distributed.run; gloo on CPU)')
    parser.add_argument('--seed', type=int, help='first seed')
    parser.add_argument(
        '--repeat', type=int, help='run the chain for this many seeds')
    parser.add_argument(
        '--data-root', help='data root of every stage (overrides the configs)')
    parser.add_argument(
        '--quiet',
        action='store_true',
        help="write the stages' output only to their stage.log files")
    parser.add_argument(
        '--in-process',
        action='store_true',
        help='run each stage\'s tool in this process (its main(argv)) '
        'instead of a new Python process: saves the start-up of every '
        'stage; needs --nproc 1. The stages and their outputs are the '
        'same')
    return parser.parse_args(argv)


def main(argv=None):
    """Run a pipeline from the command line ``argv`` (default:
    ``sys.argv[1:]``); exit with code 1 on a :class:`PipelineError`.

    Returns:
        dict: The content of ``results.json``.
    """
    args = parse_args(argv)
    try:
        if args.data_root is not None and not osp.isdir(args.data_root):
            raise PipelineError(
                f'--data-root {args.data_root} is not a directory')
        cfg = load_pipeline_config(args.config, data_root=args.data_root)
        seed = args.seed if args.seed is not None else cfg.get('seed', 0)
        repeat = args.repeat if args.repeat is not None else cfg.get(
            'repeat', 1)
        if repeat < 1:
            raise PipelineError(f'--repeat must be >= 1, got {repeat}')
        work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
            'work_dirs',
            osp.splitext(osp.basename(args.config))[0])
        pipeline = PipelineRunner(
            cfg,
            work_dir,
            nproc=args.nproc,
            seeds=[seed + i for i in range(repeat)],
            quiet=args.quiet,
            in_process=args.in_process)
        return pipeline.run()
    except PipelineError as e:
        print(f'[pipeline] error: {e}', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
