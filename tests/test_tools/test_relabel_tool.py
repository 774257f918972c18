# Copyright (c) OpenMMLab. All rights reserved.
"""The relabel pass of a retraining round as a config: tools/test.py (in
this process, :func:`mmwsss.testing.run_tool`) on a relabel config
(configs/classpattern/relabel-*.py).

A tiny DeepLab-v2 (weights of the freshly built segmentor, loaded unchanged
into RelabelSegmentor.module) predicts the 10 train images of a generated
synthetic set and fills the ignored pixels of hand-made previous masks
(test_dataloader.dataset.data_prefix.prev_mask_path); a rerun resumes. The
four relabel configs are checked in-process.
"""
import glob
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mmwsss.datasets.synthetic import generate_synthetic_wsss
from mmwsss.testing import (REPO_ROOT, TINY_GENERATE, run_tool,
                            write_tiny_seg_config)
from mmwsss.utils import save_palette_png

RELABEL_CONFIGS = sorted(
    glob.glob(osp.join(REPO_ROOT, 'configs', 'classpattern', 'relabel-*.py')))
RELABEL_SYNTHETIC = osp.join(
    REPO_ROOT, 'configs', 'classpattern',
    'relabel-deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')


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


def _tiny_relabel_config(path, data_root, prev_dir):
    size = TINY_GENERATE['image_size']
    text = f"""
_base_ = [{RELABEL_SYNTHETIC!r}]
generate = {TINY_GENERATE!r}
data_root = {data_root!r}
model = dict(module=dict(
    data_preprocessor=dict(size=({size}, {size})),
    backbone=dict(stem_channels=8, base_channels=8),
    decode_head=dict(in_channels=64, dilations=(1, 2))))
test_dataloader = dict(num_workers=0, dataset=dict(
    data_root=data_root, generate=generate,
    data_prefix=dict(prev_mask_path={prev_dir!r})))
"""
    with open(path, 'w') as f:
        f.write(text)
    return path


@pytest.mark.slow
def test_relabel_fills_train_masks_and_resumes(tmp_path):
    data = str(tmp_path / 'data')
    generate_synthetic_wsss(data, **TINY_GENERATE)
    seg = write_tiny_seg_config(str(tmp_path / 'seg.py'), data)
    ckpt = _built_model_checkpoint(seg, str(tmp_path / 'model.pth'))
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

    cfg = _tiny_relabel_config(str(tmp_path / 'relabel.py'), data, prev_dir)
    out = str(tmp_path / 'filled')
    metrics_json = str(tmp_path / 'metrics.json')
    args = [
        cfg, ckpt, '--work-dir',
        str(tmp_path / 'work'), '--out', out, '--metrics-json', metrics_json
    ]
    _, log = run_tool('test.py', args)
    # the segmentor's own checkpoint loaded into RelabelSegmentor.module
    assert 'missing keys' not in log and 'unexpected key' not in log
    pngs = sorted(f for f in os.listdir(out) if f.endswith('.png'))
    assert pngs == sorted(i + '.png' for i in ids)  # every TRAIN image
    inter, union = np.zeros(6), np.zeros(6)
    for i in ids:
        filled = np.asarray(Image.open(osp.join(out, i + '.png')))
        known = prev[i] != 255
        # labelled pixels are kept, the unknown ones get a class 0..5
        assert np.array_equal(filled[known], prev[i][known])
        assert filled.max() <= 5
        gt = np.asarray(
            Image.open(osp.join(data, 'SegmentationClass', i + '.png')))
        valid = gt != 255
        for c in range(6):  # the filled masks against the ground truth
            inter[c] += ((filled == c) & (gt == c) & valid).sum()
            union[c] += (((filled == c) | (gt == c)) & valid).sum()
    metrics = json.load(open(metrics_json))
    # the prediction never says 255: every unknown pixel is filled
    assert metrics['filled_pct'] == round(100 * ignored / total, 2)
    assert metrics['prev_ignored_pct'] == metrics['filled_pct']
    assert metrics['changed_pct'] == 0.0
    with np.errstate(invalid='ignore'):
        miou = round(float(np.nanmean(inter / union)) * 100, 2)
    assert metrics['mIoU'] == pytest.approx(miou, abs=0.011)
    assert 'relabel (fill=uncertain) of 10 images' in log
    assert (f'(pixels: filled={ignored}, prev_ignored={ignored}, '
            f'changed=0, total={total})') in log

    # a rerun restores the finished images: the same metrics
    _, log = run_tool('test.py', args)
    assert '10 image(s) were finished by an earlier run' in log
    assert json.load(open(metrics_json)) == metrics


@pytest.mark.parametrize('path', RELABEL_CONFIGS, ids=osp.basename)
def test_relabel_configs(path):
    """Every relabel config wraps its segmentation config's model and
    predicts its train split with the test pipeline, batch 1."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import METRICS, MODELS, TRANSFORMS

    import mmwsss  # noqa: F401
    assert len(RELABEL_CONFIGS) == 4
    cfg = Config.fromfile(path)
    seg = osp.basename(path)[len('relabel-'):]
    base = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', seg.split('_')[0], seg))
    assert cfg.model.type == 'RelabelSegmentor'
    assert cfg.model.fill == 'uncertain'
    assert cfg.model.module == base.model
    loader = cfg.test_dataloader
    assert loader.batch_size == 1 and not loader.sampler.shuffle
    ds = loader.dataset
    assert ds.ann_file == base.train_dataloader.dataset.ann_file
    prefix = ds.data_prefix
    train_prefix = base.train_dataloader.dataset.data_prefix
    assert prefix.img_path == train_prefix.img_path
    # scored against the ground truth, not the pseudo masks; the previous
    # masks default to those the segmentor was trained on
    assert prefix.seg_map_path != train_prefix.seg_map_path
    assert prefix.prev_mask_path == train_prefix.seg_map_path
    types = [t['type'] for t in ds.pipeline]
    assert types == ['LoadImageFromFile', 'LoadWSSSAnnotations',
                     'LoadLabelMap', 'PackWSSSInputs']
    assert tuple(ds.pipeline[-1]['pixel_keys']) == ('prev_mask', )
    assert cfg.test_evaluator.type == 'RelabelMetric'
    assert cfg.test_cfg.type == 'ResumableTestLoop'
    if 'voc12aug' in path:
        assert prefix.seg_map_path == 'SegmentationClassAug'
    init_default_scope('mmseg')
    for t in ds.pipeline:
        TRANSFORMS.build(t)
    METRICS.build(cfg.test_evaluator)
    model_cfg = cfg.model.copy()
    model_cfg.module.backbone.init_cfg = None
    with torch.device('meta'):  # the modules, without weights
        model = MODELS.build(model_cfg)
    assert type(model.module).__name__ == 'EncoderDecoder'
