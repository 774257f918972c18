# Copyright (c) OpenMMLab. All rights reserved.
"""Luo & Yang end to end on a tiny generated set: train the classifier,
then ONE tools/test.py run fits the class patterns (FitModelStateHook; one
process and two gloo processes give the same patterns) and writes the
stage-2 masks; a rerun reuses the saved patterns, and a saved file can be
given instead of fitting."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mmwsss.testing import REPO_ROOT, write_tiny_classpattern_config

pytestmark = pytest.mark.slow


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def _run(cmd):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _masks(folder):
    pngs = sorted(f for f in os.listdir(folder) if f.endswith('.png'))
    return {n: np.asarray(Image.open(osp.join(folder, n))) for n in pngs}


def test_train_then_fit_and_masks_single_and_two_processes(tmp_path):
    cfg = write_tiny_classpattern_config(
        str(tmp_path / 'classpattern.py'), str(tmp_path / 'data'), iters=2)
    work = str(tmp_path / 'train')
    _run([sys.executable, 'tools/train.py', cfg, '--work-dir', work])
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)

    one = str(tmp_path / 'one')
    test_one = [
        sys.executable, 'tools/test.py', cfg, ckpt, '--work-dir', one,
        '--out',
        osp.join(one, 'masks'), '--metrics-json',
        osp.join(one, 'metrics.json')
    ]
    out = _run(test_one)
    assert 'Class patterns of backbone.layer4.0' in out
    two = str(tmp_path / 'two')
    _run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={_free_port()}', 'tools/test.py', cfg, ckpt,
        '--work-dir', two, '--out',
        osp.join(two, 'masks'), '--launcher', 'pytorch'
    ])
    p1 = torch.load(osp.join(one, 'class_patterns.pth'))
    p2 = torch.load(osp.join(two, 'class_patterns.pth'))
    metrics = json.load(open(osp.join(one, 'metrics.json')))
    # at most 4 images per class of the 10: every image drawn counts once
    assert p1['meta']['total_images'] == p2['meta']['total_images'] == \
        metrics['class_pattern/num_images']
    assert 'class_pattern/mean_explained_variance' in metrics
    assert 'class_pattern/classes_without_images' in metrics
    assert (p1['num_images'] <= 4).all()
    assert p1['meta']['feature_layer'] == 'backbone.layer4.0'
    valid = p1['count'] > 0
    assert valid.any()
    # the sums of the two shards equal the single pass
    assert torch.equal(p1['count'], p2['count'])
    assert torch.allclose(p1['mean'][valid], p2['mean'][valid], atol=1e-6)
    assert torch.allclose(p1['pattern'][valid], p2['pattern'][valid],
                          atol=1e-5)

    # the masks of the same run: every image of the test split
    masks = _masks(osp.join(one, 'masks'))
    assert len(masks) == 10
    assert len(_masks(osp.join(two, 'masks'))) == 10
    values = set()
    for m in masks.values():
        values |= set(np.unique(m))
    assert values <= set(range(6)) | {255}
    assert 0 <= metrics['output_ignored_pct'] <= 100
    assert 0 <= metrics['mIoU'] <= 100

    # a rerun in the same work_dir reuses the fitted patterns
    out = _run(test_one)
    assert 'reused from' in out
    assert 'Class patterns of' not in out
    assert json.load(open(osp.join(one, 'metrics.json'))) == metrics

    # a saved file instead of fitting: the same masks
    three = str(tmp_path / 'three')
    out = _run([
        sys.executable, 'tools/test.py', cfg, ckpt, '--work-dir', three,
        '--out',
        osp.join(three, 'masks'), '--cfg-options',
        f'model.test_cfg.class_patterns={one}/class_patterns.pth'
    ])
    assert 'Class patterns of' not in out
    assert not osp.exists(osp.join(three, 'class_patterns.pth'))
    again = _masks(osp.join(three, 'masks'))
    assert again.keys() == masks.keys()
    for name, m in masks.items():
        assert np.array_equal(again[name], m), name
