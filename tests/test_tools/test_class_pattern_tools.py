# Copyright (c) OpenMMLab. All rights reserved.
"""Luo & Yang end to end on a tiny generated set: train the classifier,
then ONE tools/test.py run fits the class patterns (FitModelStateHook) and
writes the stage-2 masks; a rerun reuses the saved patterns, and a saved
file can be given instead of fitting. The tools run in this process
(:func:`mmwsss.testing.run_tool`); two gloo processes, which give the same
patterns and masks, are tested by ``test_distributed.py``."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mmwsss.testing import run_tool, write_tiny_classpattern_config

pytestmark = pytest.mark.slow


def _masks(folder):
    pngs = sorted(f for f in os.listdir(folder) if f.endswith('.png'))
    return {n: np.asarray(Image.open(osp.join(folder, n))) for n in pngs}


def test_train_then_fit_and_masks_then_reuse(tmp_path):
    cfg = write_tiny_classpattern_config(
        str(tmp_path / 'classpattern.py'), str(tmp_path / 'data'), iters=2)
    work = str(tmp_path / 'train')
    run_tool('train.py', [cfg, '--work-dir', work])
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)

    one = str(tmp_path / 'one')
    test_one = [
        cfg, ckpt, '--work-dir', one, '--out',
        osp.join(one, 'masks'), '--metrics-json',
        osp.join(one, 'metrics.json')
    ]
    _, out = run_tool('test.py', test_one)
    assert 'Class patterns of backbone.layer4.0' in out
    p1 = torch.load(osp.join(one, 'class_patterns.pth'))
    metrics = json.load(open(osp.join(one, 'metrics.json')))
    # at most 4 images per class of the 10: every image drawn counts once
    # (an image of two classes may be drawn for both)
    drawn = p1['meta']['total_images']
    assert drawn == metrics['class_pattern/num_images']
    assert p1['num_images'].max() <= drawn <= p1['num_images'].sum()
    assert 'class_pattern/mean_explained_variance' in metrics
    assert 'class_pattern/classes_without_images' in metrics
    assert (p1['num_images'] <= 4).all()
    assert p1['meta']['feature_layer'] == 'backbone.layer4.0'
    assert (p1['count'] > 0).any()

    # the masks of the same run: every image of the test split, with
    # uncertain pixels (255) where Algorithm 1 leaves them
    masks = _masks(osp.join(one, 'masks'))
    assert len(masks) == 10
    values = set()
    for m in masks.values():
        values |= set(np.unique(m))
    assert values <= set(range(6)) | {255}
    ignored = sum(int((m == 255).sum()) for m in masks.values())
    total = sum(m.size for m in masks.values())
    assert metrics['output_ignored_pct'] == pytest.approx(
        100 * ignored / total, abs=0.01)

    # a rerun in the same work_dir reuses the fitted patterns
    _, out = run_tool('test.py', test_one)
    assert 'reused from' in out
    assert 'Class patterns of' not in out
    assert json.load(open(osp.join(one, 'metrics.json'))) == metrics

    # a saved file instead of fitting: the same masks
    three = str(tmp_path / 'three')
    _, out = run_tool('test.py', [
        cfg, ckpt, '--work-dir', three, '--out',
        osp.join(three, 'masks'), '--cfg-options',
        f'model.test_cfg.class_patterns={one}/class_patterns.pth'
    ])
    assert 'Class patterns of' not in out
    assert not osp.exists(osp.join(three, 'class_patterns.pth'))
    again = _masks(osp.join(three, 'masks'))
    assert again.keys() == masks.keys()
    for name, m in masks.items():
        assert np.array_equal(again[name], m), name
