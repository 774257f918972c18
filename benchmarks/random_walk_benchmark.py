# Copyright (c) OpenMMLab. All rights reserved.
"""Sparse vs dense AffinityNet random walk: time, peak memory, accuracy.

Compares :func:`mmwsss.models.utils.random_walk` (sparse transition matrix,
``t`` sparse products) with :func:`dense_random_walk` (PSA ``infer_aff.py``:
dense ``N x N`` transition matrix raised to ``t = 2^logt`` by squaring) on
random problems of the sizes AffinityNet meets on PASCAL VOC:

- ``63x47``: PSA, a 500 x 375 image at stride 8 (N = 2,961);
- ``125x94``: IRN, the same image at stride 4 (N = 11,750).

Both use 21 classes, radius 5, ``beta = 8``, ``t = 256``, affinities
uniform in ``(0, 1]`` and scores uniform in ``[0, 1)`` (seeded), float32.
``--inputs irn`` makes IRN-like problems instead (see
``benchmarks/irn_walk_benchmark.py``): a synthetic boundary map ``B``,
path-max affinities ``1 - max_path B`` and scores ``U[0, 1) * (1 - B)``.

Every (implementation, size) runs in its own subprocess (this script with
``--worker``) so that its peak memory is measured cleanly: the peak
resident set size (``ru_maxrss``) after the call minus the one measured
right after building the inputs. Where Linux allows it the high-water mark
is reset first (``/proc/self/clear_refs``), so that transient memory of the
imports does not hide the call's own. The output is saved to a temporary
``.npy`` file and the parent reports the maximum absolute difference
between the two implementations and of each against a float64 sparse run.

Usage::

    python benchmarks/random_walk_benchmark.py \\
        --out benchmarks/results/random_walk.json

The dense run at 125x94 costs about 26 TFLOP (several minutes on two
cores) and about 2 GB of memory.
"""
import argparse
import gc
import importlib.util
import json
import os
import os.path as osp
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

IMPLS = ('sparse', 'dense', 'sparse_fp64')
INPUTS = ('uniform', 'irn')
DEFAULT_SIZES = ('63x47', '125x94')


def _load_random_walk():
    """Import the module from its file, without mmwsss' heavy imports.

    Importing the ``mmwsss`` package pulls in mmseg/mmcv; the workers only
    need this one torch-only file, which keeps their memory baseline small.
    """
    path = osp.join(ROOT, 'mmwsss', 'models', 'utils', 'random_walk.py')
    spec = importlib.util.spec_from_file_location('_mmwsss_random_walk',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_path_index():
    """``mmwsss/models/utils/path_index.py`` (and the ``random_walk`` it
    imports) as a stand-alone package, without mmwsss' heavy imports."""
    import types
    pkg = '_mmwsss_walk_utils'
    if pkg not in sys.modules:
        module = types.ModuleType(pkg)
        module.__path__ = [osp.join(ROOT, 'mmwsss', 'models', 'utils')]
        sys.modules[pkg] = module
    return importlib.import_module(pkg + '.path_index')


def irn_boundary(height, width, generator):
    """A synthetic IRN boundary map: low noise and the borders of a few
    random rectangles at 0.95."""
    bound = torch.rand(height, width, generator=generator) * 0.1
    for _ in range(6):
        y0, y1 = sorted(torch.randint(0, height, (2, ),
                                      generator=generator).tolist())
        x0, x1 = sorted(torch.randint(0, width, (2, ),
                                      generator=generator).tolist())
        bound[y0:y1 + 1, [x0, x1]] = 0.95
        bound[[y0, y1], x0:x1 + 1] = 0.95
    return bound


def _parse_size(text):
    h, w = text.lower().split('x')
    return int(h), int(w)


def _maxrss_mb():
    # Linux reports ru_maxrss in KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_hiwater():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def make_inputs(rw, height, width, classes, radius, seed, kind='uniform'):
    g = torch.Generator().manual_seed(seed)
    if kind == 'irn':
        # IRN make_sem_seg_labels.py: a = 1 - max over the path of B,
        # scores = CAMs * (1 - B)
        pi = _load_path_index()
        bound = irn_boundary(height, width, g)
        index = pi.pair_path_index(radius, height, width)
        affinity = pi.path_max_affinity(bound[None], index)[0]
        scores = torch.rand(classes, height, width, generator=g) * (1 - bound)
        return scores, index.ind_from, index.ind_to, affinity
    ind_from, ind_to = rw.affinity_pairs(radius, height, width)
    affinity = 1 - torch.rand(len(ind_from), generator=g)  # (0, 1]
    scores = torch.rand(classes, height, width, generator=g)
    return scores, ind_from, ind_to, affinity


def worker(args):
    """Run one implementation once per repeat; print a RESULT line."""
    if args.threads:
        torch.set_num_threads(args.threads)
    rw = _load_random_walk()
    h, w = _parse_size(args.worker_size)
    scores, ind_from, ind_to, aff = make_inputs(rw, h, w, args.classes,
                                                args.radius, args.seed,
                                                args.inputs)
    if args.worker == 'sparse_fp64':
        scores, aff = scores.double(), aff.double()
    fn = rw.dense_random_walk if args.worker == 'dense' else rw.random_walk
    gc.collect()
    reset = _reset_hiwater()
    base = _maxrss_mb()
    times = []
    for _ in range(args.repeats):
        out = None
        t0 = time.perf_counter()
        out = fn(scores, ind_from, ind_to, aff, beta=args.beta,
                 num_iters=args.num_iters)
        times.append(time.perf_counter() - t0)
    peak = _maxrss_mb()
    np.save(args.worker_npy, out.numpy())
    print('RESULT ' + json.dumps(
        dict(time_s=min(times), times_s=times,
             peak_mem_mb=peak - base, baseline_maxrss_mb=base,
             hiwater_reset=reset, num_threads=torch.get_num_threads(),
             out_dtype=str(out.dtype))), flush=True)


def run_worker(args, impl, size, npy):
    cmd = [
        sys.executable, osp.abspath(__file__), '--worker', impl,
        '--worker-size', size, '--worker-npy', npy, '--classes',
        str(args.classes), '--radius', str(args.radius), '--beta',
        str(args.beta), '--num-iters', str(args.num_iters), '--seed',
        str(args.seed), '--repeats', str(args.repeats), '--inputs',
        args.inputs
    ]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f'{impl} at {size} failed:\n'
                           f'{proc.stdout[-3000:]}{proc.stderr[-3000:]}')
    line = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
    return json.loads(line[-1][len('RESULT '):])


def bench_size(args, size, tmp):
    rw = _load_random_walk()
    h, w = _parse_size(size)
    n = h * w
    ind_from, _ = rw.affinity_pairs(args.radius, h, w)
    num_pairs = len(ind_from)
    r1 = args.radius - 1
    psa_pairs = (len(rw.pair_displacements(args.radius)) *
                 max(h - r1, 0) * max(w - 2 * r1, 0))
    entry = dict(height=h, width=w, N=n, num_pairs=num_pairs,
                 psa_cropped_pairs=psa_pairs, nnz=2 * num_pairs + n,
                 dense_matrix_mb=round(n * n * 4 / 2**20, 1))
    impls = [i for i in IMPLS if not (args.skip_dense and i == 'dense')]
    outs = {}
    for impl in impls:
        npy = osp.join(tmp, f'{impl}_{size}.npy')
        print(f'  {size}: {impl} ...', flush=True)
        res = run_worker(args, impl, size, npy)
        outs[impl] = np.load(npy).astype(np.float64)
        entry[impl] = dict(
            time_s=round(res['time_s'], 4),
            peak_mem_mb=round(res['peak_mem_mb'], 1),
            baseline_maxrss_mb=round(res['baseline_maxrss_mb'], 1),
            hiwater_reset=res['hiwater_reset'],
            num_threads=res['num_threads'])
    ref = outs['sparse_fp64']
    for impl in ('sparse', 'dense'):
        if impl in outs:
            entry[impl]['max_abs_err_vs_fp64'] = float(
                np.abs(outs[impl] - ref).max())
    if 'dense' in outs:
        sp, de = entry['sparse'], entry['dense']
        entry['max_abs_diff'] = float(
            np.abs(outs['sparse'] - outs['dense']).max())
        entry['same_to_1e-4'] = entry['max_abs_diff'] <= 1e-4
        entry['speedup'] = round(de['time_s'] / sp['time_s'], 1)
        entry['memory_ratio'] = round(
            de['peak_mem_mb'] / max(sp['peak_mem_mb'], 0.1), 1)
    return entry


def _machine():
    mem_gb = None
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemTotal'):
                    mem_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return dict(cpu_count=os.cpu_count(), platform=platform.platform(),
                processor=platform.processor() or platform.machine(),
                memory_gb=mem_gb, python=platform.python_version(),
                torch=torch.__version__, numpy=np.__version__,
                mkl=torch.backends.mkl.is_available(), device='cpu',
                default_num_threads=torch.get_num_threads())


def _table(result):
    head = (f'{"size":>8} {"N":>6} {"nnz":>8} | {"sparse s":>9} '
            f'{"dense s":>9} {"speedup":>8} | {"sparse MB":>9} '
            f'{"dense MB":>9} {"mem x":>7} | {"max|diff|":>9} '
            f'{"sp err64":>9} {"de err64":>9}')
    lines = [head, '-' * len(head)]

    def fmt(v, spec):
        if v is None:
            return format('-', '>' + spec.split('.')[0])
        return format(v, spec)

    for size, e in result['sizes'].items():
        sp, de = e['sparse'], e.get('dense', {})
        lines.append(
            f'{size:>8} {e["N"]:>6} {e["nnz"]:>8} | '
            f'{fmt(sp["time_s"], "9.3f")} {fmt(de.get("time_s"), "9.3f")} '
            f'{fmt(e.get("speedup"), "8.1f")} | '
            f'{fmt(sp["peak_mem_mb"], "9.1f")} '
            f'{fmt(de.get("peak_mem_mb"), "9.1f")} '
            f'{fmt(e.get("memory_ratio"), "7.1f")} | '
            f'{fmt(e.get("max_abs_diff"), "9.2e")} '
            f'{fmt(sp["max_abs_err_vs_fp64"], "9.2e")} '
            f'{fmt(de.get("max_abs_err_vs_fp64"), "9.2e")}')
    return '\n'.join(lines)


def main(argv=None, defaults=None):
    """Run the benchmark (``argv``: command-line arguments; ``defaults``:
    overrides of the argument defaults, for a script that reuses this one
    with other settings, e.g. ``irn_walk_benchmark.py``)."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', nargs='+', default=list(DEFAULT_SIZES),
                        help='feature-grid sizes HxW')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads (default: torch default)')
    parser.add_argument('--out',
                        default='benchmarks/results/random_walk.json')
    parser.add_argument('--skip-dense', action='store_true')
    parser.add_argument('--classes', type=int, default=21)
    parser.add_argument('--radius', type=int, default=5)
    parser.add_argument('--beta', type=float, default=8.0)
    parser.add_argument('--num-iters', type=int, default=256)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--repeats', type=int, default=1,
                        help='calls per worker; the minimum time is kept')
    parser.add_argument('--inputs', choices=INPUTS, default='uniform',
                        help='uniform random problems (AffinityNet) or '
                        'IRN-like ones (path-max affinities of a boundary '
                        'map)')
    parser.add_argument('--worker', choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument('--worker-size', help=argparse.SUPPRESS)
    parser.add_argument('--worker-npy', help=argparse.SUPPRESS)
    if defaults:
        parser.set_defaults(**defaults)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    for size in args.sizes:
        _parse_size(size)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = dict(
        machine=_machine(),
        time=time.strftime('%Y-%m-%d %H:%M:%S'),
        settings=dict(classes=args.classes, radius=args.radius,
                      beta=args.beta, num_iters=args.num_iters,
                      seed=args.seed, repeats=args.repeats,
                      threads=args.threads, dtype='float32',
                      inputs=args.inputs,
                      affinity='uniform (0, 1]' if args.inputs == 'uniform'
                      else '1 - path max of a synthetic boundary map B',
                      scores='uniform [0, 1)' if args.inputs == 'uniform'
                      else 'uniform [0, 1) * (1 - B)'),
        notes=('peak_mem_mb: increase of ru_maxrss over the value measured '
               'after building the inputs, in a fresh subprocess per run; '
               'max_abs_err_vs_fp64: against the sparse walk in float64'),
        sizes={})
    tmp = tempfile.mkdtemp(prefix='mmwsss_rw_bench_')
    try:
        for size in args.sizes:
            result['sizes'][size] = bench_size(args, size, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    from mmwsss.utils.io import atomic_write_bytes
    atomic_write_bytes(args.out,
                       (json.dumps(result, indent=2) + '\n').encode())
    print(_table(result))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
