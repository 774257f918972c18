# Copyright (c) OpenMMLab. All rights reserved.
"""Speed and memory of CAM pseudo-mask generation; writes JSON.

Three measurements (targets from the foundation issue):

1. ``ms_flip_overhead``: time of :meth:`CAMSegmentor.predict` with
   multi-scale + flip divided by the time of the bare backbone forward on
   the same images, scales and flips (target: at most 1.3).
2. ``crf_images_per_s``: dense CRF throughput with 1 and 2 worker
   processes (:func:`mmwsss.models.dense_crf_map`).
3. ``pseudo_mask_peak_rss_mb``: peak resident memory of a whole
   ``tools/test.py`` pseudo-mask pass over 100 and over 400 images of the
   synthetic dataset (target: it does not grow with the number of images).

Usage::

    python benchmarks/cam_pipeline_benchmark.py \\
        --out benchmarks/results/cam_pipeline.json
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)


def _model(depth: int, scales, flip: bool):
    from mmseg.registry import MODELS
    from mmwsss.testing import tiny_cam_model_cfg
    cfg = tiny_cam_model_cfg(num_fg_classes=20)
    cfg['backbone'].update(
        depth=depth, stem_channels=64, base_channels=64)
    cfg['cam_head']['in_channels'] = 512 if depth < 50 else 2048
    cfg['test_cfg'] = dict(scales=tuple(scales), flip=flip)
    return MODELS.build(cfg).eval()


def bench_ms_flip(depth, size, num_images, scales, repeats):
    import torch.nn.functional as F
    from mmwsss.testing import demo_wsss_inputs
    import mmwsss  # noqa: F401
    model = _model(depth, scales, True)
    data = demo_wsss_inputs(num_images, (3, size[0], size[1]),
                            num_classes=21, seed=0)
    batch = model.data_preprocessor(data, training=False)
    inputs = batch['inputs']

    def bare():
        with torch.no_grad():
            for i in range(num_images):
                x0 = inputs[i:i + 1]
                for s in scales:
                    x = x0 if s == 1.0 else F.interpolate(
                        x0, scale_factor=s, mode='bilinear',
                        align_corners=False, recompute_scale_factor=False)
                    model.backbone(torch.cat([x, x.flip(-1)]))

    def full():
        with torch.no_grad():
            for i in range(num_images):
                model.predict(inputs[i:i + 1],
                              batch['data_samples'][i:i + 1])

    bare(), full()  # warm-up
    t_bare, t_full = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bare()
        t_bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        full()
        t_full.append(time.perf_counter() - t0)
    b, f = float(np.median(t_bare)), float(np.median(t_full))
    return dict(
        backbone=f'ResNet-{depth}',
        image_size=list(size),
        num_images=num_images,
        scales=list(scales),
        flip=True,
        bare_backbone_s=round(b, 4),
        cam_ms_flip_s=round(f, 4),
        ratio=round(f / b, 3),
        target_max_ratio=1.3,
        meets_target=f / b <= 1.3)


def bench_crf(num_images, size, preset):
    from mmwsss.models.refiners import DenseCRF, dense_crf_map
    rng = np.random.default_rng(0)
    images, probs = [], []
    for _ in range(num_images):
        images.append(rng.integers(0, 255, size + (3, ), dtype=np.uint8))
        p = rng.random((4, ) + size).astype(np.float32)
        probs.append(p / p.sum(0, keepdims=True))
    crf = DenseCRF(preset)
    out = {}
    for workers in (1, 2):
        dense_crf_map(crf, images[:2], probs[:2], workers=workers)  # warm-up
        t0 = time.perf_counter()
        dense_crf_map(crf, images, probs, workers=workers)
        dt = time.perf_counter() - t0
        out[f'workers_{workers}'] = round(num_images / dt, 2)
    return dict(preset=preset, image_size=list(size), labels=4,
                num_images=num_images, images_per_s=out)


RSS_SNIPPET = r'''
import resource, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
finally:
    print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
'''


def bench_memory(counts, image_size):
    """Peak RSS of whole tools/test.py pseudo-mask passes."""
    from mmseg.registry import MODELS
    import mmwsss  # noqa: F401
    from mmwsss.datasets import generate_synthetic_wsss
    tmp = tempfile.mkdtemp(prefix='mmwsss_bench_')
    data_root = osp.join(tmp, 'data')
    generate_synthetic_wsss(data_root, num_train=max(counts), num_val=8,
                            image_size=image_size, seed=0)
    cfg_path = osp.join(ROOT, 'configs', 'cam',
                        'cam_r18w32-d8_1xb16-600_synthetic-96x96.py')
    from mmengine.config import Config
    cfg = Config.fromfile(cfg_path)
    model = MODELS.build(cfg.model)
    ckpt = osp.join(tmp, 'random.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    ids = open(osp.join(data_root, 'ImageSets/Segmentation/train.txt')
               ).read().split()
    out = {}
    for n in counts:
        split = osp.join(data_root, f'bench_{n}.txt')
        with open(split, 'w') as f:
            f.write('\n'.join(ids[:n]) + '\n')
        work = osp.join(tmp, f'work_{n}')
        cmd = [
            sys.executable, '-c', RSS_SNIPPET,
            osp.join(ROOT, 'tools', 'test.py'), cfg_path, ckpt,
            '--work-dir', work, '--data-root', data_root, '--cfg-options',
            f'test_dataloader.dataset.ann_file={split}',
            'test_dataloader.num_workers=0',
            'test_dataloader.persistent_workers=False',
            f'test_dataloader.dataset.generate.num_train={max(counts)}',
            f'test_dataloader.dataset.generate.image_size={image_size}',
            'test_dataloader.dataset.generate.num_val=8'
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])
        peak = [l for l in proc.stdout.splitlines()
                if l.startswith('PEAK_RSS_KB')][-1].split()[1]
        out[str(n)] = dict(peak_rss_mb=round(int(peak) / 1024, 1),
                           wall_s=round(time.perf_counter() - t0, 1))
    return dict(image_size=image_size, crf='psa', save_maps=True,
                passes=out,
                growth_mb=round(out[str(counts[-1])]['peak_rss_mb'] -
                                out[str(counts[0])]['peak_rss_mb'], 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='benchmarks/results/'
                        'cam_pipeline.json')
    parser.add_argument('--depth', type=int, default=18)
    parser.add_argument('--size', type=int, nargs=2, default=(240, 320))
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--crf-images', type=int, default=40)
    parser.add_argument('--memory-counts', type=int, nargs='+',
                        default=(100, 400))
    parser.add_argument('--skip', nargs='*', default=(),
                        choices=['ms_flip', 'crf', 'memory'])
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    result = dict(
        machine=dict(
            cpu_count=os.cpu_count(), platform=platform.platform(),
            torch=torch.__version__,
            device='cuda' if torch.cuda.is_available() else 'cpu'),
        time=time.strftime('%Y-%m-%d %H:%M:%S'))
    if 'ms_flip' not in args.skip:
        result['ms_flip_overhead'] = bench_ms_flip(
            args.depth, tuple(args.size), args.num_images,
            (1.0, 0.5, 1.5, 2.0), args.repeats)
        print(json.dumps(result['ms_flip_overhead'], indent=1))
    if 'crf' not in args.skip:
        result['crf_images_per_s'] = bench_crf(args.crf_images,
                                               tuple(args.size), 'psa')
        print(json.dumps(result['crf_images_per_s'], indent=1))
    if 'memory' not in args.skip:
        result['pseudo_mask_peak_rss_mb'] = bench_memory(
            list(args.memory_counts), 96)
        print(json.dumps(result['pseudo_mask_peak_rss_mb'], indent=1))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
