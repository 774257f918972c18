# Copyright (c) OpenMMLab. All rights reserved.
"""Two gloo processes on CPU, the smoke test of tools/dist_train.sh and
tools/dist_test.sh: the Luo & Yang classifier trains a few iterations, then
ONE sharded tools/test.py run fits the class patterns (FitModelStateHook:
each rank accumulates its shard, the sums are all-reduced) and writes and
scores the stage-2 masks; the patterns, PNGs and scores equal a
single-process run with the same checkpoint (in this process)."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mmwsss.testing import (run_script, run_tool, start_script,
                            write_tiny_classpattern_config)

pytestmark = pytest.mark.slow


def _masks(folder):
    pngs = sorted(f for f in os.listdir(folder) if f.endswith('.png'))
    return {n: np.asarray(Image.open(osp.join(folder, n))) for n in pngs}


def test_two_gloo_processes_train_then_fit_and_shard_masks(tmp_path):
    cfg = write_tiny_classpattern_config(
        str(tmp_path / 'classpattern.py'), str(tmp_path / 'data'), iters=2)
    work = str(tmp_path / 'train')
    _, out = run_script(
        ['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', work])
    # mmengine's environment report: two processes, gloo, DDP without GPUs
    assert 'Distributed training: True' in out
    assert 'GPU number: 2' in out  # mmengine's name for the world size
    assert "dist_cfg: {'backend': 'gloo'}" in out
    assert 'model_wrapper_cfg = dict(device_ids=None' in out
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)

    two = str(tmp_path / 'two')
    sharded = start_script([
        'bash', 'tools/dist_test.sh', cfg, ckpt, '2', '--work-dir', two,
        '--out',
        osp.join(two, 'masks'), '--metrics-json',
        osp.join(two, 'metrics.json')
    ])
    one = str(tmp_path / 'one')  # meanwhile, one process: this one
    run_tool('test.py', [
        cfg, ckpt, '--work-dir', one, '--out',
        osp.join(one, 'masks'), '--metrics-json',
        osp.join(one, 'metrics.json')
    ])
    code, out = sharded.result()
    assert code == 0, out[-4000:]
    assert 'Class patterns of backbone.layer4.0' in out

    # the sums of the two shards equal the single pass
    p1 = torch.load(osp.join(one, 'class_patterns.pth'))
    p2 = torch.load(osp.join(two, 'class_patterns.pth'))
    assert p1['meta'] == p2['meta']
    assert p1['meta']['total_images'] == p2['meta']['total_images']
    assert torch.equal(p1['count'], p2['count'])
    assert torch.equal(p1['num_images'], p2['num_images'])
    valid = p1['count'] > 0
    assert valid.any()
    assert torch.allclose(p1['mean'][valid], p2['mean'][valid], atol=1e-6)
    assert torch.allclose(p1['pattern'][valid], p2['pattern'][valid],
                          atol=1e-5)
    # every image of the test split, sharded over the ranks: the same
    # masks, and the scores gathered from the two ranks are the same
    masks = _masks(osp.join(one, 'masks'))
    assert len(masks) == 10
    sharded = _masks(osp.join(two, 'masks'))
    assert sharded.keys() == masks.keys()
    for name, mask in masks.items():
        assert np.array_equal(sharded[name], mask), name
    m1 = json.load(open(osp.join(one, 'metrics.json')))
    m2 = json.load(open(osp.join(two, 'metrics.json')))
    assert m1.keys() == m2.keys()
    for key, value in m1.items():
        assert m2[key] == pytest.approx(value, abs=1e-6), key
    assert {'mIoU', 'oracle_mIoU', 'gt_free_mIoU',
            'class_pattern/num_images'} <= set(m1)
    # both ranks cached their shards for a resume
    assert len(os.listdir(osp.join(two, 'masks', '.cache'))) == 10
