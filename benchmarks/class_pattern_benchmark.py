# Copyright (c) OpenMMLab. All rights reserved.
"""Cost of the class-pattern pass of Luo & Yang (AAAI 2020).

Two goals of the class-pattern pass (``ClassPatternSegmentor.fit_state``,
run by ``FitModelStateHook`` before ``tools/test.py`` makes the masks):

1. **time**: it costs at most 1.2x the bare feature-extraction pass over
   the same images (the same forward passes without the statistics);
2. **memory**: its peak memory does not grow with the number of images
   (the statistics are ``O(C d^2)`` sums, never the features themselves).

The model is the paper's: a ResNet-101 classifier at output stride 8
(``ResNet`` depth 101, dilated last two stages) read at ``layer4.0`` (C4_1,
``d = 2048``), on ``--size`` x ``--size`` inputs (328, the paper's), 20
classes (VOC), 1-3 random classes per image. Weights are random: the cost
does not depend on them. Each measurement runs in its own process, so that
its peak resident memory (``ru_maxrss``; on GPU also
``torch.cuda.max_memory_allocated``) is its own:

- ``bare``: ``ClassPatternSegmentor.pattern_pass`` (the whole forward
  pass, CAMs for the sign rule, features cropped);
- ``pattern``: the same plus ``accumulate_patterns`` for every image and
  ``finish_patterns`` at the end (all-reduce no-op, eigendecompositions)
  and the class-pattern file written.

Both are timed over the same ``N`` images after ``--warmup`` untimed
images, for two values of ``N`` (``--num-images``). The pattern pass has a
streaming part (``accumulate_patterns``, per image) and a one-off
finalisation (``finish_patterns``: one leading eigenpair per class, and the
file); the JSON gives
both, the streaming ratio ``(bare + process) / bare`` and the total ratio,
which tends to the streaming one as ``N`` grows. Usage::

    OMP_NUM_THREADS=2 python benchmarks/class_pattern_benchmark.py \\
        --out benchmarks/results/class_pattern.json
"""
import argparse
import io
import json
import os
import os.path as osp
import platform
import resource
import subprocess
import sys
import tempfile
import time

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)


def _model(depth: int, device: str):
    from mmengine.registry import init_default_scope

    from mmwsss.models import ClassPatternSegmentor
    init_default_scope('mmseg')
    channels = 512 if depth < 50 else 2048
    model = ClassPatternSegmentor(
        backbone=dict(
            type='ResNet',
            depth=depth,
            num_stages=4,
            out_indices=(3, ),
            strides=(1, 2, 1, 1),
            dilations=(1, 1, 2, 4),
            norm_cfg=dict(type='BN', requires_grad=True),
            init_cfg=None),
        cam_head=dict(type='CAMHead', in_channels=channels, num_classes=20),
        feature_layer='backbone.layer4.0',
        data_preprocessor=dict(type='SegDataPreProcessor'))
    return model.to(device).eval()


def _batch(i: int, size: int, device: str):
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(i)
    img = torch.randn(1, 3, size, size, generator=g).to(device)
    classes = torch.randperm(20, generator=g)[:1 + i % 3]
    score = torch.zeros(20)
    score[classes] = 1
    ds = SegDataSample(
        metainfo=dict(
            img_shape=(size, size),
            ori_shape=(size, size),
            img_path=f'{i}.jpg'))
    ds.set_data(dict(gt_score=score.to(device)))
    return img, [ds]


def run_one(mode: str, num_images: int, size: int, depth: int, warmup: int,
            device: str) -> dict:
    """One measurement (in the current process)."""
    from mmwsss.utils import atomic_write_bytes
    model = _model(depth, device)
    classes = ('background', ) + tuple(f'c{k}' for k in range(20))
    out_dir = tempfile.mkdtemp(prefix='cp_bench_')
    accumulator = None

    timers = dict(process_s=0.0, evaluate_s=0.0)

    def step(i):
        nonlocal accumulator
        img, samples = _batch(i, size, device)
        out = model.pattern_pass(img, samples)
        if mode == 'pattern':
            if device.startswith('cuda'):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            accumulator = model.accumulate_patterns(out, accumulator)
            if device.startswith('cuda'):
                torch.cuda.synchronize()
            timers['process_s'] += time.perf_counter() - t0

    with torch.no_grad():
        for i in range(warmup):
            _batch(10_000 + i, size, device)
            model.pattern_pass(*_batch(10_000 + i, size, device))
        if device.startswith('cuda'):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for i in range(num_images):
            step(i)
        if mode == 'pattern':
            t0 = time.perf_counter()
            model.finish_patterns(accumulator, num_images, classes)
            buf = io.BytesIO()
            torch.save(model.fitted_state(), buf)
            atomic_write_bytes(
                osp.join(out_dir, 'class_patterns.pth'), buf.getvalue())
            timers['evaluate_s'] = time.perf_counter() - t0
        if device.startswith('cuda'):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    rec = dict(
        mode=mode,
        num_images=num_images,
        seconds=round(seconds, 3),
        seconds_per_image=round(seconds / num_images, 4),
        process_s=round(timers['process_s'], 3),
        evaluate_s=round(timers['evaluate_s'], 3),
        peak_rss_mb=round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    if device.startswith('cuda'):
        rec['peak_cuda_mb'] = round(
            torch.cuda.max_memory_allocated() / 2**20, 1)
    return rec


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-images', type=int, nargs=2, default=[16, 64])
    parser.add_argument('--size', type=int, default=328)
    parser.add_argument('--depth', type=int, default=101)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=1,
                        help='alternating bare/pattern runs; best time kept')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--out',
        default=osp.join(REPO, 'benchmarks', 'results',
                         'class_pattern.json'))
    parser.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        rec = run_one(args.child[0], int(args.child[1]), args.size,
                      args.depth, args.warmup, args.device)
        print('RESULT ' + json.dumps(rec))
        return

    runs = []
    for n in args.num_images:
        for rep in range(args.repeats):
            for mode in ('bare', 'pattern'):
                cmd = [
                    sys.executable, osp.abspath(__file__), '--child', mode,
                    str(n), '--size',
                    str(args.size), '--depth',
                    str(args.depth), '--warmup',
                    str(args.warmup), '--device', args.device
                ]
                proc = subprocess.run(
                    cmd, capture_output=True, text=True, cwd=REPO)
                if proc.returncode != 0:
                    sys.exit(proc.stdout[-2000:] + proc.stderr[-4000:])
                line = [
                    x for x in proc.stdout.splitlines()
                    if x.startswith('RESULT ')
                ][-1]
                rec = json.loads(line[len('RESULT '):])
                rec['repeat'] = rep
                runs.append(rec)
                print(json.dumps(rec), flush=True)

    def best(mode, n, key='seconds'):
        return min(r[key] for r in runs
                   if r['mode'] == mode and r['num_images'] == n)

    summary = {}
    for n in args.num_images:
        summary[str(n)] = dict(
            bare_s=best('bare', n),
            pattern_s=best('pattern', n),
            time_ratio=round(best('pattern', n) / best('bare', n), 3),
            pattern_process_s=best('pattern', n, 'process_s'),
            pattern_evaluate_s=best('pattern', n, 'evaluate_s'),
            # the streaming part over the same forward passes: what grows
            # with the number of images
            streaming_ratio=round(
                (best('bare', n) + best('pattern', n, 'process_s')) /
                best('bare', n), 3),
            bare_peak_rss_mb=best('bare', n, 'peak_rss_mb'),
            pattern_peak_rss_mb=best('pattern', n, 'peak_rss_mb'))
    n1, n2 = (str(n) for n in args.num_images)
    # per-image (marginal) cost from the two sizes: the fixed cost of the
    # pattern pass (eigenpairs, writing the file) cancels out
    dn = args.num_images[1] - args.num_images[0]
    marginal = dict(
        bare_s_per_image=round(
            (summary[n2]['bare_s'] - summary[n1]['bare_s']) / dn, 4),
        pattern_s_per_image=round(
            (summary[n2]['pattern_s'] - summary[n1]['pattern_s']) / dn, 4))
    marginal['time_ratio'] = round(
        marginal['pattern_s_per_image'] / marginal['bare_s_per_image'], 3)
    growth = summary[n2]['pattern_peak_rss_mb'] - \
        summary[n1]['pattern_peak_rss_mb']
    dim = 512 if args.depth < 50 else 2048
    stats_mb = 20 * dim * dim * 8 / 2**20
    result = dict(
        benchmark='class_pattern_pass',
        model=f'ResNet-{args.depth} d8, layer4.0 (d={dim}), 20 classes',
        input_size=args.size,
        device=args.device,
        torch=torch.__version__,
        cpu=platform.processor() or platform.machine(),
        threads=torch.get_num_threads(),
        omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
        statistics_mb=round(stats_mb, 1),
        summary=summary,
        max_time_ratio=max(s['time_ratio'] for s in summary.values()),
        marginal=marginal,
        goal_time_ratio=1.2,
        pattern_peak_rss_growth_mb=round(growth, 1),
        runs=runs)
    os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if k != 'runs'},
                     indent=2))


if __name__ == '__main__':
    main()
