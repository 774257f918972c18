# Copyright (c) OpenMMLab. All rights reserved.
"""RPNet's training step against the CAM classifier's: time and peak memory.

Both models are :class:`~mmwsss.models.CAMSegmentor` s on the same backbone
(the same ``out_indices``, so the backbone costs the same) and the same
batch; they differ only in the head:

- ``cam``: :class:`~mmwsss.models.CAMHead` on the last output;
- ``rpnet``: :class:`~mmwsss.models.RegionPrototypeHead` (the paper's
  defaults, or the reference code's settings with ``--code-settings``),
  with the batch's images in groups of ``--group-size`` (``group_id``).

One training step is what the runner does: the data preprocessor,
``loss``, ``backward`` and an SGD step. Each model runs in its own
subprocess (this script with ``--worker``) so that its memory is measured
cleanly:

- CPU: the growth of the peak resident set size (``ru_maxrss``) during the
  warm-up and timed steps over the one measured right before them (model
  and data built), after resetting the kernel's high-water mark
  (``/proc/self/clear_refs``, where allowed): the activations, gradients
  and optimiser state of a step. It
  counts everything the process touches (PyTorch's CPU allocator, glibc
  caches), not tensors alone; tracemalloc would miss PyTorch's C++
  allocations entirely.
- CUDA: ``torch.cuda.max_memory_allocated`` during the steps (the
  tensors, not the caching allocator's reserve).

The defaults are small enough for a CPU (ResNet-18 at 128 x 128, batch
4); e.g. ``--backbone x50 --size 512 --batch-size 16 --device cuda`` for
the paper's setting. Usage::

    OMP_NUM_THREADS=1 python benchmarks/rpnet_step_benchmark.py \\
        --out benchmarks/results/rpnet_step.json
"""
import argparse
import json
import os
import os.path as osp
import platform
import resource
import subprocess
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

BACKBONES = {
    # name: (backbone config, channels of block 2 and block 4)
    'r18': (dict(type='ResNet', depth=18), (128, 512)),
    'r50': (dict(type='ResNet', depth=50), (512, 2048)),
    'x50': (dict(type='ResNeXt', depth=50, groups=32, base_width=4),
            (512, 2048)),
    'x101': (dict(type='ResNeXt', depth=101, groups=32, base_width=8),
             (512, 2048)),
}

CODE_SETTINGS = dict(
    channels=512,
    reduce_levels='cam',
    attention_cfg=dict(
        mode='dot_product', norm_cfg=dict(type='BN'), zeros_init=True),
    prototype_cfg=dict(
        inclusive=True,
        drop_mode='add',
        mask_source='last',
        compare_to='same',
        rescale=1.3),
    loss_enhanced_cls=None,
    loss_consistency=dict(
        type='PrototypeConsistencyLoss', mode='cam', reduction='mean'))


def model_cfg(args, head):
    backbone, (c2, c4) = BACKBONES[args.backbone]
    backbone = dict(
        backbone,
        num_stages=4,
        out_indices=(1, 3),
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 1),
        style='pytorch',
        frozen_stages=2,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True)
    if head == 'cam':
        cam_head = dict(type='CAMHead', in_channels=c4, num_classes=20)
    else:
        cam_head = dict(
            type='RegionPrototypeHead',
            in_channels=(c2, c4),
            num_classes=20,
            channels=256)
        if args.code_settings:
            cam_head.update(CODE_SETTINGS)
    return dict(
        data_preprocessor=dict(
            type='SegDataPreProcessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
            size_divisor=32),
        backbone=backbone,
        cam_head=cam_head)


def _maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_hiwater():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def worker(args):
    import mmwsss.models  # noqa: F401
    from mmwsss.models import CAMSegmentor
    from mmwsss.testing import demo_wsss_inputs
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    model = CAMSegmentor(**model_cfg(args, args.worker)).to(device)
    model.train()
    data = demo_wsss_inputs(
        batch_size=args.batch_size,
        image_shape=(3, args.size, args.size),
        num_classes=21,
        seed=args.seed)
    for i, ds in enumerate(data['data_samples']):
        ds.set_metainfo(dict(group_id=i // args.group_size))
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.SGD(params, lr=1e-3, momentum=0.9)

    def step():
        batch = model.data_preprocessor(data, True)
        losses = model(**batch, mode='loss')
        total = sum(v for k, v in losses.items() if 'loss' in k)
        optim.zero_grad()
        total.backward()
        optim.step()
        return {k: float(v) for k, v in losses.items()}

    # the memory a step adds over the built model and its data: the
    # high-water mark is reset before the first (warm-up) step, so the
    # activations, gradients and optimiser state of a step are counted
    if device.type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
    reset = _reset_hiwater()
    base_rss = _maxrss_mb()
    for _ in range(args.warmup):
        step()
    times, cpu_times = [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        losses = step()
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated() / 2**20 - base
        how = 'cuda max_memory_allocated over allocated before'
    else:
        peak = _maxrss_mb() - base_rss
        how = 'ru_maxrss growth (hiwater reset)' if reset else \
            'ru_maxrss growth (hiwater not reset: a lower bound)'
    print('RESULT ' + json.dumps(
        dict(
            step_s=min(times),
            steps_s=times,
            step_s_per_image=min(times) / args.batch_size,
            # CPU seconds of the process (all its threads): on a shared
            # machine, a measure of the work that does not count waiting
            step_cpu_s=min(cpu_times),
            peak_mem_mb=peak,
            peak_rss_mb=_maxrss_mb(),
            peak_mem_mb_per_image=peak / args.batch_size,
            memory_measure=how,
            losses=losses,
            trainable_params=sum(p.numel() for p in params),
            num_threads=torch.get_num_threads())), flush=True)


def run_worker(args, head):
    cmd = [sys.executable, osp.abspath(__file__), '--worker', head]
    for key in ('backbone', 'size', 'batch_size', 'group_size', 'repeats',
                'warmup', 'seed', 'device', 'threads'):
        value = getattr(args, key)
        if value is not None:
            cmd += ['--' + key.replace('_', '-'), str(value)]
    if args.code_settings:
        cmd.append('--code-settings')
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f'{head} failed:\n{proc.stdout[-3000:]}'
                           f'{proc.stderr[-3000:]}')
    line = [x for x in proc.stdout.splitlines() if x.startswith('RESULT ')]
    return json.loads(line[-1][len('RESULT '):])


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--backbone', choices=sorted(BACKBONES), default='r18')
    p.add_argument('--size', type=int, default=128, help='square crop')
    p.add_argument('--batch-size', type=int, default=4)
    p.add_argument('--group-size', type=int, default=2,
                   help='images per group (2: the paper\'s pairs)')
    p.add_argument('--code-settings', action='store_true',
                   help='the reference code\'s head settings instead of the '
                   'paper\'s')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--out', default=osp.join(ROOT, 'benchmarks', 'results',
                                             'rpnet_step.json'))
    p.add_argument(
        '--worker', choices=('cam', 'rpnet'), help=argparse.SUPPRESS)
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
            python=platform.python_version(),
            torch=torch.__version__,
            omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
            cuda=torch.cuda.get_device_name(0)
            if args.device.startswith('cuda') else None),
        date=time.strftime('%Y-%m-%d %H:%M:%S'))
    for head in ('cam', 'rpnet'):
        print(f'{head} ...', flush=True)
        result[head] = run_worker(args, head)
    cam, rp = result['cam'], result['rpnet']
    result['time_ratio'] = rp['step_s'] / cam['step_s']
    result['cpu_time_ratio'] = rp['step_cpu_s'] / cam['step_cpu_s']
    result['memory_ratio'] = rp['peak_mem_mb'] / max(cam['peak_mem_mb'],
                                                     1e-6)
    print(f"step per image: cam {cam['step_s_per_image']:.4f} s, rpnet "
          f"{rp['step_s_per_image']:.4f} s (x{result['time_ratio']:.2f}, CPU "
          f"time x{result['cpu_time_ratio']:.2f}); "
          f"peak memory per image: cam {cam['peak_mem_mb_per_image']:.1f} MB"
          f", rpnet {rp['peak_mem_mb_per_image']:.1f} MB "
          f"(x{result['memory_ratio']:.2f}; {rp['memory_measure']})")
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
