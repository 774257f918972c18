# Copyright (c) OpenMMLab. All rights reserved.
"""benchmarks/rescore_pseudo_masks.py on a hand-made finished stage."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmwsss.testing import REPO_ROOT


def _script():
    path = osp.join(REPO_ROOT, 'benchmarks', 'rescore_pseudo_masks.py')
    spec = importlib.util.spec_from_file_location('rescore_pseudo_masks',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stage(tmp_path):
    """Two 2 x 2 images, their saved maps and masks, a recorded run.

    Classes: background, c1, c2. Image a: ground truth [[1, 1], [0, 0]],
    one map (c1) [[.96, .6], [.4, .1]]; image b: ground truth
    [[2, 0], [2, 0]], one map (c2) [[.94, .2], [.7, .3]]. A pixel is
    foreground at t when its map value is above t.
    """
    data = tmp_path / 'data'
    (data / 'img').mkdir(parents=True)
    (data / 'gt').mkdir()
    stage = tmp_path / 'stage'
    (stage / 'masks' / 'cams').mkdir(parents=True)
    gts = dict(a=[[1, 1], [0, 0]], b=[[2, 0], [2, 0]])
    maps = dict(a=(1, [[.96, .6], [.4, .1]]), b=(2, [[.94, .2], [.7, .3]]))
    # the saved masks: the t = 0.9 labels (a: [[1, 0], [0, 0]],
    # b: [[2, 0], [0, 0]])
    saved = dict(a=[[1, 0], [0, 0]], b=[[2, 0], [0, 0]])
    for name in 'ab':
        Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(
            data / 'img' / f'{name}.jpg')
        Image.fromarray(np.array(gts[name], np.uint8)).save(
            data / 'gt' / f'{name}.png')
        Image.fromarray(np.array(saved[name], np.uint8)).save(
            stage / 'masks' / f'{name}.png')
        label, cam = maps[name]
        np.savez(
            stage / 'masks' / 'cams' / f'{name}.npz',
            cams=np.array([cam], np.float16),
            labels=np.array([label], np.int64))
    (data / 'labels.txt').write_text('a 1\nb 2\n')
    (stage / 'stage_config.py').write_text(f'''
model = dict(test_cfg=dict(bg=dict(type='threshold', thr=0.9)))
test_dataloader = dict(dataset=dict(
    type='WSSSFolderDataset', data_root={str(data)!r},
    data_prefix=dict(img_path='img', seg_map_path='gt'),
    cls_label_file='labels.txt',
    metainfo=dict(classes=('background', 'c1', 'c2')), pipeline=[]))
test_evaluator = dict(type='PseudoMaskMetric', sweep=[0.9])
''')
    # the recorded oracle is off by 1.0 on purpose (the check must see it)
    (stage / 'stage.json').write_text(
        json.dumps(dict(metrics=dict(mIoU=55.56, oracle_mIoU=54.56))))
    return stage


def test_rescore_wider_sweep(tmp_path):
    stage = _stage(tmp_path)
    out = tmp_path / 'out.json'
    _script().main(
        [str(stage), '--sweep', '0.5', '0.9', '0.95', '--out',
         str(out)])
    row = json.loads(out.read_text())['stages'][0]
    # t = 0.5: every pixel right -> 100. t = 0.9: bg IoU 4 / 6, c1 1 / 2,
    # c2 1 / 2 -> 55.56. t = 0.95 (b's 0.94 drops out): bg 4 / 7, c1 1 / 2,
    # c2 0 / 2 -> 35.71
    assert row['wide_sweep']['values'] == [0.5, 0.9, 0.95]
    assert row['wide_sweep']['miou'] == [100.0, 55.56, 35.71]
    assert row['wide_sweep']['oracle_bg'] == 0.5
    assert row['wide_sweep']['oracle_mIoU'] == 100.0
    # the configured row is the saved masks (the t = 0.9 labels)
    assert row['wide_sweep']['mIoU'] == 55.56
    assert row['own_sweep']['values'] == [0.9]
    assert row['own_sweep']['oracle_mIoU'] == 55.56
    assert row['max_abs_diff_own_vs_recorded'] == 1.0


def test_rescore_missing_maps_names_the_file(tmp_path):
    stage = _stage(tmp_path)
    (stage / 'masks' / 'cams' / 'b.npz').unlink()
    with pytest.raises(FileNotFoundError, match=r'cams/b\.npz'):
        _script().main([str(stage), '--out', str(tmp_path / 'out.json')])
