# Copyright (c) OpenMMLab. All rights reserved.
"""Two gloo processes on CPU: tools/dist_train.sh trains a few iterations,
tools/dist_test.sh shards the pseudo-mask pass, and the sharded PNGs and
scores equal a single-process run with the same checkpoint."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mmwsss.testing import REPO_ROOT, write_tiny_cam_config

pytestmark = pytest.mark.slow


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def _run(cmd):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, PORT=_free_port())
    proc = subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _pngs(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith('.png'))


def test_two_gloo_processes_train_and_shard_pseudo_masks(tmp_path):
    cfg = write_tiny_cam_config(
        str(tmp_path / 'cam.py'), str(tmp_path / 'data'), iters=2)
    work = str(tmp_path / 'train')
    out = _run(['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', work])
    # mmengine's environment report: two processes, gloo, DDP without GPUs
    assert 'Distributed training: True' in out
    assert 'GPU number: 2' in out  # mmengine's name for the world size
    assert "dist_cfg: {'backend': 'gloo'}" in out
    assert "model_wrapper_cfg = dict(device_ids=None" in out
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)

    sharded = str(tmp_path / 'masks_2proc')
    _run([
        'bash', 'tools/dist_test.sh', cfg, ckpt, '2', '--work-dir',
        str(tmp_path / 'test2'), '--out', sharded, '--metrics-json',
        str(tmp_path / 'metrics_2proc.json')
    ])
    single = str(tmp_path / 'masks_1proc')
    _run([
        sys.executable, 'tools/test.py', cfg, ckpt, '--work-dir',
        str(tmp_path / 'test1'), '--out', single, '--metrics-json',
        str(tmp_path / 'metrics_1proc.json')
    ])
    names = _pngs(single)
    assert len(names) == 10  # every train image of the tiny set
    assert _pngs(sharded) == names
    for name in names:
        a = np.asarray(Image.open(osp.join(single, name)))
        b = np.asarray(Image.open(osp.join(sharded, name)))
        assert np.array_equal(a, b), name
    # the scores gathered from the two ranks equal the single-process ones
    rep1 = json.load(open(str(tmp_path / 'metrics_1proc.json')))
    rep2 = json.load(open(str(tmp_path / 'metrics_2proc.json')))
    assert rep1 == rep2
    assert {'mIoU', 'oracle_mIoU', 'gt_free_mIoU'} <= set(rep1)
    # both ranks cached their shards for a resume
    assert len(os.listdir(osp.join(sharded, '.cache'))) == 10
