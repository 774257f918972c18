# Copyright (c) OpenMMLab. All rights reserved.
"""Luo & Yang end to end on a tiny generated set: train the classifier,
the class-pattern pass (one process and two gloo processes give the same
file), then the stage-2 masks through tools/test.py."""
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

from mmwsss.testing import REPO_ROOT, write_tiny_dcp_config

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


def test_train_patterns_single_and_two_processes_then_masks(tmp_path):
    cfg = write_tiny_dcp_config(
        str(tmp_path / 'dcp.py'), str(tmp_path / 'data'), iters=2)
    work = str(tmp_path / 'train')
    _run([sys.executable, 'tools/train.py', cfg, '--work-dir', work])
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)

    one = str(tmp_path / 'patterns_1')
    out = _run([
        sys.executable, 'tools/extract_class_patterns.py', cfg, ckpt,
        '--out', one, '--work-dir', one, '--metrics-json',
        osp.join(one, 'metrics.json')
    ])
    assert 'Class patterns of backbone.layer4.0' in out
    two = str(tmp_path / 'patterns_2')
    _run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={_free_port()}', 'tools/extract_class_patterns.py',
        cfg, ckpt, '--out', two, '--work-dir', two, '--launcher', 'pytorch'
    ])
    p1 = torch.load(osp.join(one, 'class_patterns.pth'))
    p2 = torch.load(osp.join(two, 'class_patterns.pth'))
    metrics = json.load(open(osp.join(one, 'metrics.json')))
    # at most 4 images per class of the 10: every image drawn counts once
    assert p1['meta']['total_images'] == p2['meta']['total_images'] == \
        metrics['class_pattern/num_images']
    assert (p1['num_images'] <= 4).all()
    assert p1['meta']['feature_layer'] == 'backbone.layer4.0'
    valid = p1['count'] > 0
    assert valid.any()
    # the sums of the two shards equal the single pass
    assert torch.equal(p1['count'], p2['count'])
    assert torch.allclose(p1['mean'][valid], p2['mean'][valid], atol=1e-6)
    assert torch.allclose(p1['pattern'][valid], p2['pattern'][valid],
                          atol=1e-5)

    masks = str(tmp_path / 'masks')
    _run([
        sys.executable, 'tools/test.py', cfg, ckpt, '--work-dir',
        str(tmp_path / 'test'), '--out', masks, '--metrics-json',
        osp.join(masks, 'metrics.json'), '--cfg-options',
        f'model.test_cfg.class_patterns={one}/class_patterns.pth'
    ])
    pngs = sorted(f for f in os.listdir(masks) if f.endswith('.png'))
    assert len(pngs) == 10
    values = set()
    for name in pngs:
        values |= set(np.unique(np.asarray(Image.open(osp.join(masks,
                                                               name)))))
    assert values <= set(range(6)) | {255}
    report = json.load(open(osp.join(masks, 'pseudo_mask_eval.json')))
    assert report['configured']['rule']['output'] == 'model'
    assert report['configured']['crf_images'] == 'single_class'
    m = json.load(open(osp.join(masks, 'metrics.json')))
    assert 0 <= m['output_ignored_pct'] <= 100
    assert 0 <= m['mIoU'] <= 100
