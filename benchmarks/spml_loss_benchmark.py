# Copyright (c) OpenMMLab. All rights reserved.
"""SPML's k-means + pixel-to-segment loss per training step against the
backbone forward: time and peak memory (issue 15).

Two measurements, each in its own subprocess (this script with
``--worker``) so that its memory is measured cleanly (as
``rpnet_step_benchmark.py`` does: the growth of ``ru_maxrss`` after a
reset of the high-water mark on CPU, ``max_memory_allocated`` on CUDA):

- ``backbone``: the forward of an mmseg ResNet (``--backbone``, output
  stride 8 by dilation, as SPML's DeepLab) on ``--batch-size`` images of
  ``8 x --feat`` pixels, without gradient (the forward alone);
- ``spml``: :class:`~mmwsss.models.PixelToSegmentContrastiveLoss` with the
  code's defaults (the three relations of the reference code, location
  features, k-means 6 x 6 grid, 10 rounds), its forward and backward on a
  ``(batch, --dim, feat, feat)`` embedding, after ``--memory`` batches have
  filled its memory bank (the timed steps read them as extra segments).
  The labels are a synthetic partial annotation: two classes per image in
  blocks, a quarter of the pixels unlabelled, 8 x 8-pixel regions as the
  over-segmentation.

The defaults are the issue's setting (batch 16, a 32 x 32 feature map, 2
batches in the memory bank) with a ResNet-50 backbone. Usage::

    OMP_NUM_THREADS=1 python benchmarks/spml_loss_benchmark.py \\
        --out benchmarks/results/spml_loss_step.json
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from rpnet_step_benchmark import _maxrss_mb, _reset_hiwater  # noqa: E402


def _labels(batch, feat, num_classes, seed):
    """Synthetic partial labels, 8 x 8 regions and tags."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.zeros(batch, feat, feat, dtype=torch.long)
    tags = torch.zeros(batch, num_classes, dtype=torch.long)
    half = feat // 2
    for i in range(batch):
        a, b = torch.randint(1, num_classes, (2, ), generator=g).tolist()
        labels[i, :half, :half] = a
        labels[i, half:, half:] = b
        labels[i, :half, half:] = num_classes  # unlabelled
        tags[i, [a, b]] = 1
    ys, xs = torch.meshgrid(torch.arange(feat), torch.arange(feat),
                            indexing='ij')
    regions = ((ys // 8) * (feat // 8 + 1) + xs // 8).expand(batch, -1, -1)
    return labels, regions.contiguous(), tags


def worker(args):
    import mmwsss.models  # noqa: F401
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if args.worker == 'backbone':
        from mmseg.models.backbones import ResNetV1c
        net = ResNetV1c(
            depth=args.backbone_depth,
            strides=(1, 2, 1, 1),
            dilations=(1, 1, 2, 4),
            out_indices=(3, )).to(device)
        net.eval()  # mmseg's ResNet.train() returns None: not chained
        x = torch.randn(args.batch_size, 3, 8 * args.feat, 8 * args.feat,
                        device=device)

        def step():
            with torch.no_grad():
                net(x)
    else:
        from mmwsss.models import PixelToSegmentContrastiveLoss
        loss = PixelToSegmentContrastiveLoss(
            num_classes=args.num_classes, memory_size=args.memory).to(device)
        loss.train()
        labels, regions, tags = (
            t.to(device) for t in _labels(args.batch_size, args.feat,
                                          args.num_classes, args.seed))
        emb = torch.randn(args.batch_size, args.dim, args.feat, args.feat,
                          device=device, requires_grad=True)
        for _ in range(args.memory):  # fill the memory bank
            loss(emb, labels, regions, tags).backward()

        def step():
            emb.grad = None
            loss(emb, labels, regions, tags).backward()

    if device.type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
    reset = _reset_hiwater()
    base_rss = _maxrss_mb()
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated() / 2**20 - base
        how = 'cuda max_memory_allocated over allocated before'
    else:
        peak = _maxrss_mb() - base_rss
        how = 'ru_maxrss growth (hiwater reset)' if reset else \
            'ru_maxrss growth (hiwater not reset: a lower bound)'
    print('RESULT ' + json.dumps(
        dict(step_s=min(times), steps_s=times, peak_mem_mb=peak,
             memory_measure=how, num_threads=torch.get_num_threads())),
          flush=True)


def run_worker(args, kind):
    cmd = [sys.executable, osp.abspath(__file__), '--worker', kind]
    for key in ('backbone_depth', 'feat', 'dim', 'batch_size', 'memory',
                'num_classes', 'repeats', 'warmup', 'seed', 'device',
                'threads'):
        value = getattr(args, key)
        if value is not None:
            cmd += ['--' + key.replace('_', '-'), str(value)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f'{kind} failed:\n{proc.stdout[-3000:]}'
                           f'{proc.stderr[-3000:]}')
    line = [x for x in proc.stdout.splitlines() if x.startswith('RESULT ')]
    return json.loads(line[-1][len('RESULT '):])


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--backbone-depth', type=int, default=50)
    p.add_argument('--feat', type=int, default=32, help='feature map side')
    p.add_argument('--dim', type=int, default=64, help='embedding channels')
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--memory', type=int, default=2,
                   help='batches in the memory bank')
    p.add_argument('--num-classes', type=int, default=21)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--out', default=osp.join(ROOT, 'benchmarks', 'results',
                                             'spml_loss_step.json'))
    p.add_argument('--worker', choices=('backbone', 'spml'),
                   help=argparse.SUPPRESS)
    return p.parse_args()


def main():
    args = parse_args()
    if args.worker:
        worker(args)
        return
    result = dict(
        settings={k: v for k, v in vars(args).items() if k != 'worker'},
        machine=dict(
            cpu_count=os.cpu_count(),
            platform=platform.platform(),
            torch=torch.__version__,
            omp_num_threads=os.environ.get('OMP_NUM_THREADS')),
        date=time.strftime('%Y-%m-%d %H:%M:%S'))
    for kind in ('backbone', 'spml'):
        result[kind] = run_worker(args, kind)
        print(kind, json.dumps(result[kind]), flush=True)
    result['ratio_time_spml_over_backbone_forward'] = (
        result['spml']['step_s'] / result['backbone']['step_s'])
    result['ratio_mem_spml_over_backbone_forward'] = (
        result['spml']['peak_mem_mb'] /
        max(result['backbone']['peak_mem_mb'], 1e-6))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if 'ratio' in k}))


if __name__ == '__main__':
    main()
