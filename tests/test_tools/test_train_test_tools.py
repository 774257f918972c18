# Copyright (c) OpenMMLab. All rights reserved.
"""End to end: tools/train.py then tools/test.py on a tiny generated set.

Real processes, real files: a classifier is trained for a few iterations
on a synthetic dataset generated into a temporary directory, stage 2 writes
and scores pseudo masks, a rerun resumes from the cache, and ``--resume``
and ``load_from`` load the runner checkpoint under torch's
``weights_only=True`` default.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mmwsss.testing import REPO_ROOT, write_tiny_cam_config

pytestmark = pytest.mark.slow


def _write_config(tmp_path, iters):
    """The tiny synthetic CAM config shared with the pipeline tests."""
    return write_tiny_cam_config(
        str(tmp_path / f'cfg_{iters}.py'), str(tmp_path / 'data'),
        iters=iters)


def _run(args, cwd=REPO_ROOT):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    proc = subprocess.run([sys.executable] + args,
                          cwd=cwd,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def test_train_then_pseudo_masks_then_resume(tmp_path):
    work = str(tmp_path / 'work')
    cfg4 = _write_config(tmp_path, 4)
    out = _run(['tools/train.py', cfg4, '--work-dir', work])
    assert osp.isfile(osp.join(work, 'iter_4.pth'))
    assert 'loss_cls' in out
    assert 'multi-label/mAP' in out  # val at the end of training

    # stage 2: pseudo masks for the 10 train images, written by the
    # config's PredictionWriterHook (default folder), scored and tabulated
    metrics_json = osp.join(work, 'stage2.json')
    test_args = ['tools/test.py', cfg4, osp.join(work, 'iter_4.pth'),
                 '--work-dir', work, '--metrics-json', metrics_json]
    out = _run(test_args)
    pseudo = osp.join(work, 'predictions')
    pngs = sorted(f for f in os.listdir(pseudo) if f.endswith('.png'))
    assert len(pngs) == 10
    mask = np.asarray(Image.open(osp.join(pseudo, pngs[0])))
    assert mask.ndim == 2 and set(np.unique(mask)) <= set(range(6))
    assert 'Pseudo-mask mIoU over the background sweep' in out
    assert 'oracle (GT-tuned' in out and 'GT-free' in out
    for thr in ('0.1', '0.2', '0.3'):
        assert f'| {thr:>8} |' in out
    metrics = json.load(open(metrics_json))
    assert {'mIoU', 'oracle_mIoU', 'oracle_bg', 'gt_free_mIoU',
            'output_ignored_pct'} <= set(metrics)
    assert metrics['oracle_bg'] in (0.1, 0.2, 0.3)

    # a rerun restores every image from the cache instead of recomputing
    os.remove(osp.join(pseudo, pngs[0]))
    out = _run(test_args)
    assert '9 image(s) were finished by an earlier run' in out
    assert osp.isfile(osp.join(pseudo, pngs[0]))
    assert json.load(open(metrics_json)) == metrics

    # --resume continues from iter_4 under torch.load(weights_only=True)
    cfg6 = _write_config(tmp_path, 6)
    out = _run(['tools/train.py', cfg6, '--work-dir', work, '--resume'])
    assert 'resumed epoch: 0, iter: 4' in out
    assert osp.isfile(osp.join(work, 'iter_6.pth'))

    # load_from a runner checkpoint into a fresh run
    work2 = str(tmp_path / 'work2')
    out = _run(['tools/train.py', cfg4, '--work-dir', work2, '--cfg-options',
                f"load_from={osp.join(work, 'iter_6.pth')}"])
    assert 'Load checkpoint from' in out
    assert osp.isfile(osp.join(work2, 'iter_4.pth'))


def test_corrupt_checkpoint_is_named(tmp_path):
    cfg = _write_config(tmp_path, 2)
    bad = tmp_path / 'broken.pth'
    bad.write_bytes(b'PK\x03\x04 definitely not a checkpoint')
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    proc = subprocess.run([
        sys.executable, 'tools/test.py', cfg,
        str(bad), '--work-dir',
        str(tmp_path / 'w')
    ],
                          cwd=REPO_ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode != 0
    assert f'checkpoint {bad} is corrupt' in proc.stderr
