# Copyright (c) OpenMMLab. All rights reserved.
"""ResumableTestLoop with PredictionWriterHook on a tiny CAM model: a
killed pass resumes byte-identically, a changed checkpoint or model
test_cfg recomputes every image."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmseg.registry import HOOKS

from mmwsss.engine.runner.resumable_test_loop import (flatten_result,
                                                      unflatten_result)
from mmwsss.testing import write_tiny_cam_config


@HOOKS.register_module(force=True)
class _CountComputed(Hook):
    """Counts the images the model predicted; kills the pass at ``kill_at``
    (after the writer of that batch ran)."""

    priority = 'LOWEST'
    computed = 0

    def __init__(self, kill_at=None):
        self.kill_at = kill_at

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None):
        type(self).computed += len(outputs or [])
        if self.kill_at is not None and batch_idx == self.kill_at:
            raise KeyboardInterrupt('killed')


def _cfg(tmp_path, name, out, ckpt=None, kill_at=None, **test_cfg):
    path = str(tmp_path / 'tiny_cam.py')
    if not osp.isfile(path):
        write_tiny_cam_config(path, str(tmp_path / 'data'))
    cfg = Config.fromfile(path)
    cfg.work_dir = str(tmp_path / name)
    cfg.train_dataloader = cfg.train_cfg = None
    cfg.optim_wrapper = cfg.param_scheduler = None
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.load_from = ckpt
    cfg.model.test_cfg.update(test_cfg)
    cfg.custom_hooks = [
        dict(type='PredictionWriterHook', out_dir=out, save_maps=True),
        dict(type='_CountComputed', kill_at=kill_at)
    ]
    return cfg


def _run(cfg):
    _CountComputed.computed = 0
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    return runner, metrics


def _files(folder):
    """Every written file (not the cache) and its bytes."""
    out = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != '.cache']
        for name in files:
            path = osp.join(root, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, folder)] = f.read()
    return out


def _checkpoints(tmp_path):
    """Two different weight files of the tiny model."""
    cfg = _cfg(tmp_path, 'init', str(tmp_path / 'init_out'))
    model = Runner.from_cfg(cfg).model
    a = str(tmp_path / 'a.pth')
    torch.save(dict(state_dict=model.state_dict()), a)
    with torch.no_grad():
        for p in model.cam_head.parameters():
            p.mul_(-1.0)
    b = str(tmp_path / 'b.pth')
    torch.save(dict(state_dict=model.state_dict()), b)
    return a, b


@pytest.mark.slow
def test_killed_pass_resumes_byte_identically(tmp_path):
    ckpt, _ = _checkpoints(tmp_path)
    fresh_dir = str(tmp_path / 'fresh')
    _, fresh = _run(_cfg(tmp_path, 'w1', fresh_dir, ckpt))
    assert _CountComputed.computed == 10
    fresh_files = _files(fresh_dir)
    assert len([f for f in fresh_files if f.endswith('.png')]) == 10
    assert len([f for f in fresh_files if f.endswith('.npz')]) == 10

    out = str(tmp_path / 'killed')
    with pytest.raises(KeyboardInterrupt):
        _run(_cfg(tmp_path, 'w2', out, ckpt, kill_at=4))
    # batches 0-4 were written, 0-3 cached (the kill came before 4's cache)
    assert len(os.listdir(osp.join(out, '.cache'))) == 4
    runner, resumed = _run(_cfg(tmp_path, 'w2', out, ckpt))
    assert _CountComputed.computed == 6
    assert runner.test_loop.num_restored == 4
    assert runner.test_loop.num_stale == 0
    assert resumed == fresh
    assert _files(out) == fresh_files
    # a deleted mask is recomputed; nothing else is
    name = sorted(f for f in fresh_files if f.endswith('.png'))[0]
    os.remove(osp.join(out, name))
    runner, again = _run(_cfg(tmp_path, 'w2', out, ckpt))
    assert _CountComputed.computed == 1 and again == fresh
    assert _files(out) == fresh_files


@pytest.mark.slow
def test_changed_checkpoint_or_test_cfg_recomputes(tmp_path):
    ckpt_a, ckpt_b = _checkpoints(tmp_path)
    out = str(tmp_path / 'masks')
    _run(_cfg(tmp_path, 'w', out, ckpt_a))
    files_a = _files(out)

    # other weights: every image is recomputed, as a fresh run with them
    runner, with_b = _run(_cfg(tmp_path, 'w', out, ckpt_b))
    assert _CountComputed.computed == 10
    assert runner.test_loop.num_stale == 10
    assert runner.test_loop.num_restored == 0
    fresh_b = str(tmp_path / 'fresh_b')
    _, expected = _run(_cfg(tmp_path, 'wb', fresh_b, ckpt_b))
    assert with_b == expected
    assert _files(out) == _files(fresh_b) != files_a

    # another background threshold in model.test_cfg: recomputed too
    bg = dict(type='threshold', thr=0.05)
    runner, with_bg = _run(_cfg(tmp_path, 'w', out, ckpt_b, bg=bg))
    assert _CountComputed.computed == 10 and runner.test_loop.num_stale == 10
    fresh_bg = str(tmp_path / 'fresh_bg')
    _, expected = _run(_cfg(tmp_path, 'wbg', fresh_bg, ckpt_b, bg=bg))
    assert with_bg == expected
    assert _files(out) == _files(fresh_bg)
    # and the same settings again: all restored
    runner, same = _run(_cfg(tmp_path, 'w', out, ckpt_b, bg=bg))
    assert _CountComputed.computed == 0 and same == expected
    assert runner.test_loop.num_restored == 10


def test_result_flattening_roundtrip():
    result = dict(
        stats=np.arange(6, dtype=np.int64).reshape(2, 3),
        area=(torch.tensor([1.5, 2.0]), torch.tensor([3], dtype=torch.int64)),
        rule='{"thr": 0.3}',
        counts=[1, 2.5, None, True],
        scalar=np.float32(0.25))
    arrays = []
    layout = flatten_result(result, arrays)
    import json
    layout = json.loads(json.dumps(layout))  # it is plain JSON
    back = unflatten_result(layout, arrays)
    assert back.keys() == result.keys()
    assert np.array_equal(back['stats'], result['stats'])
    assert back['stats'].dtype == np.int64
    assert isinstance(back['area'], tuple)
    assert torch.equal(back['area'][0], result['area'][0])
    assert back['area'][1].dtype == torch.int64
    assert back['rule'] == result['rule'] and back['counts'] == [
        1, 2.5, None, True
    ]
    assert type(back['scalar']) is np.float32 and back['scalar'] == 0.25
    with pytest.raises(TypeError):
        flatten_result(dict(x=object()), [])


def _twin_split(data_root):
    """Two split entries with one file name, a/x and b/x: copies of two
    synthetic images (and masks) of different content; and a flat split of
    the two originals."""
    import shutil

    from mmwsss.datasets import generate_synthetic_wsss
    from mmwsss.testing import TINY_GENERATE
    generate_synthetic_wsss(data_root, **TINY_GENERATE)
    splits = osp.join(data_root, 'ImageSets', 'Segmentation')
    with open(osp.join(splits, 'train.txt')) as f:
        ids = f.read().split()[:2]
    for name, sub in zip(ids, ('a', 'b')):
        for folder, ext in (('JPEGImages', '.jpg'),
                            ('SegmentationClass', '.png')):
            os.makedirs(osp.join(data_root, folder, sub), exist_ok=True)
            shutil.copy(
                osp.join(data_root, folder, name + ext),
                osp.join(data_root, folder, sub, 'x' + ext))
    with open(osp.join(splits, 'twins.txt'), 'w') as f:
        f.write('a/x\nb/x\n')
    with open(osp.join(splits, 'flat.txt'), 'w') as f:
        f.write('\n'.join(ids) + '\n')
    return ids


def test_same_file_name_in_two_folders_is_two_images(tmp_path):
    """Issue 13: split entries a/x and b/x are two images, with two masks,
    two maps and two cache entries on a fresh output folder."""
    ids = _twin_split(str(tmp_path / 'data'))
    flat_out = str(tmp_path / 'flat')
    cfg = _cfg(tmp_path, 'wf', flat_out)
    cfg.test_dataloader.dataset.ann_file = 'ImageSets/Segmentation/flat.txt'
    _, expected = _run(cfg)
    flat = _files(flat_out)
    assert flat[ids[0] + '.png'] != flat[ids[1] + '.png']

    out = str(tmp_path / 'twins')
    cfg = _cfg(tmp_path, 'wt', out)
    cfg.test_dataloader.dataset.ann_file = 'ImageSets/Segmentation/twins.txt'
    runner, metrics = _run(cfg)
    assert _CountComputed.computed == 2
    assert runner.test_loop.num_restored == 0
    assert metrics == expected
    assert _files(out) == {
        osp.join(sub, 'x.png'): flat[name + '.png']
        for name, sub in zip(ids, ('a', 'b'))
    } | {
        osp.join('cams', sub, 'x.npz'): flat[osp.join('cams', name + '.npz')]
        for name, sub in zip(ids, ('a', 'b'))
    }
    assert sorted(
        osp.relpath(osp.join(r, f), osp.join(out, '.cache'))
        for r, _, files in os.walk(osp.join(out, '.cache'))
        for f in files) == ['a/x.npz', 'b/x.npz']
    # a rerun restores both
    runner, again = _run(cfg)
    assert _CountComputed.computed == 0 and again == expected
    assert runner.test_loop.num_restored == 2
