# Copyright (c) OpenMMLab. All rights reserved.
"""tools/test.py --relabel: the relabel pass of a retraining round.

A tiny DeepLab-v2 (weights of the freshly built model) predicts the 10
train images of a generated synthetic set and fills the ignored pixels of
hand-made previous masks; a rerun resumes from the cache. The config
surgery itself is checked in-process on wrapped datasets.
"""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mmwsss.apis import configure_relabel
from mmwsss.datasets.synthetic import generate_synthetic_wsss
from mmwsss.testing import REPO_ROOT, TINY_GENERATE, write_tiny_seg_config
from mmwsss.utils import save_palette_png

pytestmark = pytest.mark.slow


def _run(args, check=True):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    proc = subprocess.run([sys.executable] + args,
                          cwd=REPO_ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    out = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, out[-4000:]
    return proc.returncode, out


def _built_model_checkpoint(cfg_path, path):
    """Save the weights of the config's freshly built model."""
    import mmwsss  # noqa: F401  (registers the plugin's modules)
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(cfg_path).model)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def test_relabel_fills_train_masks_and_resumes(tmp_path):
    data = str(tmp_path / 'data')
    generate_synthetic_wsss(data, **TINY_GENERATE)
    cfg = write_tiny_seg_config(str(tmp_path / 'seg.py'), data)
    ckpt = _built_model_checkpoint(cfg, str(tmp_path / 'model.pth'))
    with open(osp.join(data, 'ImageSets', 'Segmentation', 'train.txt')) as f:
        ids = f.read().split()
    assert len(ids) == TINY_GENERATE['num_train']

    # previous masks: the ground truth with rows 10-19 unknown
    prev_dir = str(tmp_path / 'prev')
    prev = {}
    for i in ids:
        gt = np.asarray(
            Image.open(osp.join(data, 'SegmentationClass', i + '.png')))
        mask = gt.copy()
        mask[10:20] = 255
        save_palette_png(osp.join(prev_dir, i + '.png'), mask)
        prev[i] = mask
    ignored = sum(int((m == 255).sum()) for m in prev.values())
    total = sum(m.size for m in prev.values())

    out = str(tmp_path / 'filled')
    metrics_json = str(tmp_path / 'metrics.json')
    args = [
        'tools/test.py', cfg, ckpt, '--work-dir',
        str(tmp_path / 'work'), '--relabel', prev_dir, '--out', out,
        '--metrics-json', metrics_json
    ]
    _, log = _run(args)
    pngs = sorted(f for f in os.listdir(out) if f.endswith('.png'))
    assert pngs == sorted(i + '.png' for i in ids)  # every TRAIN image
    for i in ids:
        filled = np.asarray(Image.open(osp.join(out, i + '.png')))
        known = prev[i] != 255
        # labelled pixels are kept, the unknown ones get a class 0..5
        assert np.array_equal(filled[known], prev[i][known])
        assert filled.max() <= 5
    metrics = json.load(open(metrics_json))
    # the prediction never says 255: every unknown pixel is filled
    assert metrics['filled_pct'] == round(100 * ignored / total, 2)
    assert metrics['prev_ignored_pct'] == metrics['filled_pct']
    assert metrics['changed_pct'] == 0.0
    assert 0.0 <= metrics['mIoU'] <= 100.0
    report = json.load(open(osp.join(out, 'relabel_eval.json')))
    assert report['num_images'] == 10
    assert report['pixels'] == dict(filled=ignored, prev_ignored=ignored,
                                    changed=0, total=total)
    assert 'relabel (fill=uncertain) of 10 images' in log

    # a rerun restores every image instead of predicting it again
    _, log = _run(args)
    assert '10 image(s) were finished by an earlier run' in log
    assert json.load(open(metrics_json)) == metrics

    # --relabel without --out is refused
    code, log = _run(args[:args.index('--out')], check=False)
    assert code == 2 and '--relabel needs --out' in log


def test_configure_relabel_through_wrappers(tmp_path):
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadWSSSAnnotations'),
        dict(type='PackSegInputs')
    ]
    leaf = dict(
        type='SyntheticWSSSDataset',
        data_root='d',
        data_prefix=dict(img_path='JPEGImages'),
        pseudo_mask_dir='old',
        label_source='none',
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='RandomFlip')])
    cfg = Config(
        dict(
            train_dataloader=dict(
                batch_size=8,
                sampler=dict(type='InfiniteSampler', shuffle=True),
                dataset=dict(
                    type='ConcatDataset',
                    datasets=[
                        leaf,
                        dict(type='RepeatDataset', times=2, dataset=leaf)
                    ])),
            test_dataloader=dict(
                batch_size=4,
                sampler=dict(type='DefaultSampler', shuffle=True),
                dataset=dict(
                    type='SyntheticWSSSDataset',
                    data_prefix=dict(
                        img_path='JPEGImages',
                        seg_map_path='SegmentationClass'),
                    pipeline=test_pipeline)),
            test_evaluator=dict(type='IoUMetric'),
            test_cfg=dict(type='TestLoop')))
    prev = str(tmp_path)
    configure_relabel(cfg, prev, 'all', str(tmp_path / 'out'))
    ds = cfg.test_dataloader.dataset
    leaves = [ds.datasets[0], ds.datasets[1].dataset]
    assert ds.type == 'ConcatDataset' and ds.datasets[1].times == 2
    for d in leaves:
        assert d.pipeline == test_pipeline
        assert 'pseudo_mask_dir' not in d
        assert d.label_source == 'none'
        # no ground truth folder of its own: the test dataset's
        assert d.data_prefix == dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass')
    assert cfg.test_dataloader.batch_size == 1
    assert cfg.test_dataloader.sampler == dict(
        type='DefaultSampler', shuffle=False)
    assert cfg.test_evaluator == dict(
        type='RelabelMetric',
        prev_mask_dir=prev,
        fill='all',
        output_dir=str(tmp_path / 'out'),
        format_only=False)
    assert cfg.test_cfg.type == 'ResumableTestLoop'
    # the train loader itself is untouched
    assert cfg.train_dataloader.dataset.datasets[0].pseudo_mask_dir == 'old'

    # no ground truth anywhere: masks only, no annotation loading
    cfg.test_dataloader.dataset = dict(
        type='SyntheticWSSSDataset', pipeline=test_pipeline)
    cfg.test_cfg = dict(type='MyLoop')
    configure_relabel(cfg, prev, 'uncertain', 'o')
    first = cfg.test_dataloader.dataset.datasets[0]
    assert [t['type'] for t in first.pipeline] == [
        'LoadImageFromFile', 'PackSegInputs'
    ]
    assert cfg.test_evaluator.format_only is True
    assert cfg.test_cfg.type == 'MyLoop'  # a custom loop is kept
    with pytest.raises(ValueError, match="'uncertain' or 'all'"):
        configure_relabel(cfg, prev, 'some', 'o')
    with pytest.raises(FileNotFoundError, match='is not a directory'):
        configure_relabel(cfg, str(tmp_path / 'nope'), 'all', 'o')
