# Copyright (c) OpenMMLab. All rights reserved.
"""Run a pipeline config for several seeds, side by side, and summarise.

``tools/run_pipeline.py --repeat N`` runs the seeds one after the other in
one work dir. On a CPU machine with more cores than one training uses, this
script runs each seed as its own ``run_pipeline.py`` process in its own
work dir (``<work-dir>/seed_<s>``), at most ``--jobs`` at a time, each with
``OMP_NUM_THREADS=--threads``, and then combines their ``results.json`` into
one summary (mean, sample std, min, max over the seeds, per result key) with
the pipeline's own ``summarise_runs``:

    python benchmarks/seed_runs.py benchmarks/configs/pseudo_mask_comparison_synthetic.py \\
        --seeds 0 1 2 --jobs 2 \\
        --out benchmarks/results/pseudo_mask_comparison_synthetic.json

A rerun resumes: every seed's pipeline skips its finished stages. Wall
times of seeds that ran side by side share the cores; they are recorded but
are not timings of an idle machine.
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmwsss.apis.pipeline import format_results  # noqa: E402
from mmwsss.apis.pipeline import summarise_runs  # noqa: E402
from mmwsss.utils.io import atomic_write_bytes  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='pipeline config')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--jobs', type=int, default=1, help='seeds run at the same time')
    parser.add_argument(
        '--threads', type=int, default=1, help='OMP_NUM_THREADS of each seed')
    parser.add_argument(
        '--work-dir',
        help='default: work_dirs/seed_runs/<config name>')
    parser.add_argument('--data-root', help='passed to run_pipeline.py')
    parser.add_argument('--out', required=True, help='summary JSON')
    return parser.parse_args(argv)


def _git_commit() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', 'HEAD'],
                              cwd=ROOT,
                              capture_output=True,
                              text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def main(argv=None):
    args = parse_args(argv)
    name = osp.splitext(osp.basename(args.config))[0]
    work_dir = args.work_dir or osp.join('work_dirs', 'seed_runs', name)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    pending = list(args.seeds)
    running = {}
    wall = {}
    failed = []
    while pending or running:
        while pending and len(running) < args.jobs:
            seed = pending.pop(0)
            cmd = [
                sys.executable,
                osp.join(ROOT, 'tools', 'run_pipeline.py'), args.config,
                '--seed',
                str(seed), '--repeat', '1', '--work-dir',
                osp.join(work_dir, f'seed_{seed}'), '--quiet'
            ]
            if args.data_root:
                cmd += ['--data-root', args.data_root]
            print(f'[seed_runs] seed {seed}: {" ".join(cmd)}', flush=True)
            running[seed] = (subprocess.Popen(cmd, env=env), time.time())
        time.sleep(2)
        for seed, (proc, start) in list(running.items()):
            if proc.poll() is not None:
                wall[seed] = round(time.time() - start, 1)
                del running[seed]
                print(f'[seed_runs] seed {seed} ended with code '
                      f'{proc.returncode} after {wall[seed]} s', flush=True)
                if proc.returncode:
                    failed.append(seed)
    if failed:
        raise SystemExit(f'[seed_runs] seeds {failed} failed; see their '
                         f'stage.log files under {work_dir}')
    runs, labels = [], None
    for seed in args.seeds:
        with open(osp.join(work_dir, f'seed_{seed}', 'results.json')) as f:
            res = json.load(f)
        runs.extend(res['runs'])
        labels = labels or res['labels']
    results = summarise_runs(runs, labels)
    results.update(
        config=args.config,
        command=' '.join([osp.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
        git_commit=_git_commit(),
        machine=dict(
            cpus=os.cpu_count(),
            python=platform.python_version(),
            concurrent_seeds=args.jobs,
            threads_per_seed=args.threads),
        seed_process_wall_time_s=wall)
    atomic_write_bytes(args.out, json.dumps(results, indent=2).encode())
    print(format_results(results))
    print(f'[seed_runs] summary written to {args.out}')


if __name__ == '__main__':
    main()
