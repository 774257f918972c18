# Copyright (c) OpenMMLab. All rights reserved.
"""What stage 2 costs beyond its forward passes; writes JSON.

Two measurements on the same images of the synthetic set (the CAM config
``configs/cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py``: half-width
ResNet-18, scales 1.0 / 1.5 / 2.0 + flip, untrained weights), one thread
each (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``):

1. the whole ``tools/test.py`` pseudo-mask pass without CRF, as the
   pipeline runs it (``--out``: masks, saved CAMs, the resume cache, the
   sweep of the metric), in its own process: mmengine's iteration time
   (``test/time`` of ``IterTimerHook``, mean over the images) and the wall
   time of the process;
2. the bare backbone forwards of the same images, scales and flips (the
   flipped copy in the batch, as ``CAMSegmentor`` runs them), in this
   process, after a warm-up.

The ratio of (1) to (2) is what stage 2 costs on top of its forwards
(issue 11: at most 1.2 by iteration time). A third, in-process run over
``--breakdown-images`` images times the parts of an iteration (the model
with and without its forwards, the post-processor, the metric and its
sweep, the writer, the resume cache, the progress bar), and ``--profile``
writes the ``cProfile`` statistics of the pass (the functions with the
largest own time) to the JSON.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/stage2_overhead_benchmark.py \\
        --out benchmarks/results/stage2_overhead.json
"""
import argparse
import json
import os
import os.path as osp
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
CONFIG = osp.join(ROOT, 'configs', 'cam',
                  'cam_r18w32-d8_1xb16-600_synthetic-96x96.py')

# Runs tools/test.py in this process, then prints the iteration times that
# mmengine's IterTimerHook recorded (and, with PROFILE=<file>, profiles).
PASS_SNIPPET = r'''
import json, os, runpy, sys, time
sys.argv = sys.argv[1:]
prof = None
if os.environ.get('PROFILE'):
    import cProfile
    prof = cProfile.Profile()
    prof.enable()
t0 = time.perf_counter()
runpy.run_path(sys.argv[0], run_name='__main__')
loop_s = time.perf_counter() - t0
if prof is not None:
    prof.disable()
    prof.dump_stats(os.environ['PROFILE'])
from mmengine.logging import MessageHub
hub = MessageHub.get_current_instance()
times = hub.get_scalar('test/time').data[0].tolist()
data = hub.get_scalar('test/data_time').data[0].tolist()
print('ITER_TIMES', json.dumps(dict(time=times, data_time=data,
                                    run_s=loop_s)))
'''


def _env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
                PYTHONPATH=ROOT)


def prepare(tmp: str, num_images: int, image_size: int):
    """The synthetic set, a seeded random checkpoint, the split file."""
    from mmengine.config import Config
    from mmseg.registry import MODELS

    import mmwsss  # noqa: F401
    from mmwsss.datasets import generate_synthetic_wsss
    data_root = osp.join(tmp, 'data')
    generate_synthetic_wsss(
        data_root,
        num_train=num_images,
        num_val=8,
        image_size=image_size,
        seed=0)
    cfg = Config.fromfile(CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = osp.join(tmp, 'random.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    return data_root, ckpt, cfg


def whole_pass(tmp: str, data_root: str, ckpt: str, num_images: int,
               image_size: int, num_workers: int,
               profile: bool) -> dict:
    """``tools/test.py`` pseudo-mask pass without CRF, in a subprocess."""
    work = osp.join(tmp, 'work')
    masks = osp.join(tmp, 'masks')
    for folder in (work, masks):  # a fresh pass: nothing to resume
        shutil.rmtree(folder, ignore_errors=True)
    cmd = [
        sys.executable, '-c', PASS_SNIPPET,
        osp.join(ROOT, 'tools', 'test.py'), CONFIG, ckpt, '--work-dir', work,
        '--out', masks, '--data-root', data_root, '--metrics-json',
        osp.join(work, 'metrics.json'), '--cfg-options',
        'model.test_cfg.crf=None',
        f'test_dataloader.num_workers={num_workers}',
        f'test_dataloader.persistent_workers={num_workers > 0}',
        f'test_dataloader.dataset.generate.num_train={num_images}',
        f'test_dataloader.dataset.generate.image_size={image_size}',
        'test_dataloader.dataset.generate.num_val=8'
    ]
    env = _env()
    prof_path = osp.join(tmp, 'pass.prof')
    if profile:
        env['PROFILE'] = prof_path
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stdout[-3000:] + proc.stderr[-3000:])
    line = [
        ln for ln in proc.stdout.splitlines() if ln.startswith('ITER_TIMES')
    ][-1]
    rec = json.loads(line.split(' ', 1)[1])
    times = np.asarray(rec['time'])
    out = dict(
        num_images=int(len(times)),
        iter_time_mean_s=round(float(times.mean()), 5),
        iter_time_median_s=round(float(np.median(times)), 5),
        # the first iterations start the dataloader worker and warm up
        iter_time_mean_after_10_s=round(float(times[10:].mean()), 5),
        data_time_mean_s=round(float(np.mean(rec['data_time'])), 5),
        runner_s=round(rec['run_s'], 2),
        process_wall_s=round(wall, 2),
        masks_written=len(
            [f for f in os.listdir(masks) if f.endswith('.png')]),
        maps_written=len(os.listdir(osp.join(masks, 'cams'))),
        metrics=json.load(open(osp.join(work, 'metrics.json'))))
    if profile:
        out['profile_top_tottime'] = _profile_top(prof_path)
    return out


def _profile_top(path: str, top: int = 25) -> list:
    import pstats
    stats = pstats.Stats(path)
    rows = []
    for (fname, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
        where = osp.relpath(fname, ROOT) if fname.startswith('/') else fname
        rows.append((tt, ct, nc, f'{where}:{line}:{func}'))
    rows.sort(reverse=True)
    return [
        dict(tottime_s=round(tt, 3), cumtime_s=round(ct, 3), calls=nc, at=at)
        for tt, ct, nc, at in rows[:top]
    ]


def bare_forwards(cfg, data_root: str, num_images: int,
                  repeats: int) -> dict:
    """Backbone forwards of the same images, scales and flips."""
    import mmcv
    import torch.nn.functional as F
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    scales = cfg.model.test_cfg['scales']
    flip = cfg.model.test_cfg.get('flip', True)
    ids = open(osp.join(data_root, 'ImageSets/Segmentation/train.txt')
               ).read().split()[:num_images]
    inputs = []
    for name in ids:
        img = mmcv.imread(osp.join(data_root, 'JPEGImages', name + '.jpg'))
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        batch = model.data_preprocessor(dict(inputs=[x]), False)
        inputs.append(batch['inputs'])

    def run(images):
        with torch.no_grad():
            for x0 in images:
                for s in scales:
                    x = x0 if s == 1.0 else F.interpolate(
                        x0,
                        scale_factor=s,
                        mode='bilinear',
                        align_corners=False,
                        recompute_scale_factor=False)
                    if flip:
                        x = torch.cat([x, x.flip(-1)])
                    model.extract_feat(x)

    run(inputs[:10])  # warm-up
    per_image = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(inputs)
        per_image.append((time.perf_counter() - t0) / len(inputs))
    return dict(
        num_images=len(inputs),
        scales=list(scales),
        flip=bool(flip),
        repeats=repeats,
        per_image_s=round(float(np.median(per_image)), 5),
        per_image_all_s=[round(v, 5) for v in per_image])


def breakdown(data_root: str, ckpt: str, num_images: int, generated: dict,
              num_workers: int, tmp: str) -> dict:
    """Milliseconds per image of the parts of a pass (in this process)."""
    import collections
    import functools

    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmwsss.engine import ProgressBarHook, PredictionWriterHook
    from mmwsss.engine.runner import ResumableTestLoop
    from mmwsss.evaluation import PseudoMaskMetric
    from mmwsss.evaluation.metrics import pseudo_mask_metric
    from mmwsss.models import BackboneSegmentor, CAMSegmentor
    spent = collections.defaultdict(float)

    def timed(owner, name, key):
        func = getattr(owner, name)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - t0

        setattr(owner, name, wrapper)
        return func

    parts = [
        (ResumableTestLoop, 'run_iter', 'iteration without data loading'),
        (CAMSegmentor, 'predict', 'model.predict'),
        (CAMSegmentor, '_forward', 'model forwards (backbone + head)'),
        (BackboneSegmentor, 'postprocess_masks', 'post-processor'),
        (PseudoMaskMetric, 'process', 'metric.process'),
        (pseudo_mask_metric, 'sweep_area_stats', 'metric sweep (18 values)'),
        (PredictionWriterHook, 'after_test_iter', 'writer (PNG + maps)'),
        (ResumableTestLoop, '_save', 'resume cache'),
        (ProgressBarHook, 'after_test_iter', 'progress bar'),
    ]
    originals = [(owner, name, timed(owner, name, key))
                 for owner, name, key in parts]
    try:
        cfg = Config.fromfile(CONFIG)
        cfg.model.test_cfg.crf = None
        cfg.work_dir = osp.join(tmp, 'breakdown_work')
        cfg.load_from = ckpt
        cfg.train_dataloader = cfg.train_cfg = None
        cfg.optim_wrapper = cfg.param_scheduler = None
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
        loader = cfg.test_dataloader
        loader.num_workers = num_workers
        loader.persistent_workers = num_workers > 0
        loader.dataset.data_root = data_root
        loader.dataset.generate.update(generated)
        loader.dataset.indices = num_images
        out = osp.join(tmp, 'breakdown_masks')
        for folder in (out, cfg.work_dir):
            shutil.rmtree(folder, ignore_errors=True)
        for hook in cfg.custom_hooks:
            if hook['type'] == 'PredictionWriterHook':
                hook['out_dir'] = out
        runner = Runner.from_cfg(cfg)
        runner.test()
        times = runner.message_hub.get_scalar('test/time').data[0]
        data = runner.message_hub.get_scalar('test/data_time').data[0]
    finally:
        for owner, name, func in originals:
            setattr(owner, name, func)
    per_image = {
        k: round(1000 * v / num_images, 3)
        for k, v in sorted(spent.items(), key=lambda kv: -kv[1])
    }
    per_image['data loading wait (data_time)'] = round(
        1000 * float(np.mean(data)), 3)
    per_image['mmengine iteration time'] = round(
        1000 * float(np.mean(times)), 3)
    return dict(num_images=num_images, ms_per_image=per_image)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--out', default='benchmarks/results/stage2_overhead.json')
    parser.add_argument('--num-images', type=int, default=300)
    parser.add_argument('--image-size', type=int, default=96)
    parser.add_argument(
        '--num-workers',
        type=int,
        default=1,
        help='test dataloader workers of the pass (the config: 1)')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument(
        '--breakdown-images',
        type=int,
        default=100,
        help='images of the timed in-process run (0: none)')
    parser.add_argument('--profile', action='store_true')
    parser.add_argument(
        '--tmp', help='work folder (default: a new temporary folder)')
    args = parser.parse_args()
    torch.set_num_threads(1)
    tmp = args.tmp or tempfile.mkdtemp(prefix='mmwsss_stage2_')
    os.makedirs(tmp, exist_ok=True)
    data_root, ckpt, cfg = prepare(tmp, args.num_images, args.image_size)
    # forwards first and last, around the pass, to see drift of the load
    bare_before = bare_forwards(cfg, data_root, args.num_images,
                                args.repeats)
    full = whole_pass(tmp, data_root, ckpt, args.num_images,
                      args.image_size, args.num_workers, args.profile)
    bare_after = bare_forwards(cfg, data_root, args.num_images, args.repeats)
    parts = None
    if args.breakdown_images:
        parts = breakdown(
            data_root, ckpt, min(args.breakdown_images, args.num_images),
            dict(num_train=args.num_images, num_val=8,
                 image_size=args.image_size), args.num_workers, tmp)
    bare = min(bare_before['per_image_s'], bare_after['per_image_s'])
    ratio = full['iter_time_mean_s'] / bare
    result = dict(
        machine=dict(
            cpu_count=os.cpu_count(),
            platform=platform.platform(),
            torch=torch.__version__,
            threads=1,
            loadavg_1min=round(os.getloadavg()[0], 2)),
        time=time.strftime('%Y-%m-%d %H:%M:%S'),
        config=osp.relpath(CONFIG, ROOT),
        crf=None,
        image_size=args.image_size,
        whole_pass=full,
        bare_forwards_before=bare_before,
        bare_forwards_after=bare_after,
        bare_forward_per_image_s=bare,
        ratio_iter_time=round(ratio, 3),
        ratio_process_wall=round(
            full['process_wall_s'] / full['num_images'] / bare, 3),
        target_max_ratio=1.2,
        meets_target=bool(ratio <= 1.2),
        breakdown=parts)
    print(json.dumps({k: v for k, v in result.items()
                      if k != 'whole_pass'}, indent=1))
    print(json.dumps({k: v for k, v in full.items()
                      if k != 'profile_top_tottime'}, indent=1))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
