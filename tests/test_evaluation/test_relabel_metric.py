# Copyright (c) OpenMMLab. All rights reserved.
"""RelabelMetric on hand-built 4x4 masks, every value counted by hand."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmseg.structures import SegDataSample
from PIL import Image

from mmwsss.evaluation import RelabelMetric, fill_pseudo_mask
from mmwsss.utils import save_palette_png

META = dict(
    classes=('background', 'a', 'b'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0]])
X = 255
PREV = np.array([[0, 0, X, 1],
                 [0, X, X, 1],
                 [2, 2, X, 1],
                 [X, 2, 2, 1]])  # 5 of 16 pixels ignored
PRED = np.array([[0, 1, 1, 1],
                 [0, 1, 1, 1],
                 [2, 2, 1, 0],
                 [2, 2, 2, 0]])
GT = np.array([[0, 0, 1, 1],
               [0, 0, 1, 1],
               [2, 2, 1, 1],
               [2, 2, 2, X]])
# fill='uncertain': the ignored pixels take the prediction
UNCERTAIN = np.array([[0, 0, 1, 1],
                      [0, 1, 1, 1],
                      [2, 2, 1, 1],
                      [2, 2, 2, 1]])


def _prev_dir(tmp_path, ids=('img_1', ), mode='P'):
    folder = tmp_path / 'prev'
    folder.mkdir(exist_ok=True)
    for i in ids:
        if mode == 'P':
            save_palette_png(str(folder / f'{i}.png'), PREV, META['palette'])
        else:  # a grey PNG: the same raw indices
            Image.fromarray(PREV.astype(np.uint8), mode='L').save(
                str(folder / f'{i}.png'))
    return str(folder)


def _sample(img_id='img_1', pred=PRED, gt=GT):
    return dict(
        img_path=f'/data/JPEGImages/{img_id}.jpg',
        pred_sem_seg=dict(data=torch.from_numpy(pred)[None]),
        gt_sem_seg=dict(data=torch.from_numpy(gt)[None]))


def _metric(**kwargs):
    m = RelabelMetric(**kwargs)
    m.dataset_meta = META
    return m


def test_fill_pseudo_mask_by_hand():
    assert fill_pseudo_mask(PREV, PRED, 'uncertain').tolist() == \
        UNCERTAIN.tolist()
    assert fill_pseudo_mask(PREV, PRED, 'all').tolist() == PRED.tolist()
    assert fill_pseudo_mask(None, PRED, 'uncertain').tolist() == \
        PRED.tolist()


@pytest.mark.parametrize('mode', ['P', 'L'])
def test_uncertain_fill_writes_and_scores(tmp_path, mode):
    out = str(tmp_path / 'out')
    metric = _metric(prev_mask_dir=_prev_dir(tmp_path, mode=mode),
                     output_dir=out)
    metric.process({}, [_sample()])
    png = Image.open(osp.join(out, 'img_1.png'))
    assert png.mode == 'P'
    assert png.getpalette()[3:6] == [128, 0, 0]
    assert np.asarray(png).tolist() == UNCERTAIN.tolist()
    # 15 scored pixels (GT (3,3) ignored):
    # bg: pred {00,01,10}, gt {00,01,10,11} -> 3 / 4
    # a: pred 7 pixels, gt 6, all 6 inside -> 6 / 7; b: 5 / 5
    stats = metric.results[0]['stats']
    assert stats[0].tolist() == [3, 6, 5]  # intersections
    assert stats[1].tolist() == [4, 7, 5]  # unions
    res = metric.compute_metrics(metric.results)
    assert res['mIoU'] == pytest.approx(100 * (3 / 4 + 6 / 7 + 1) / 3,
                                        abs=0.01)
    assert res['filled_pct'] == 31.25  # 5 of 16
    assert res['prev_ignored_pct'] == 31.25
    assert res['changed_pct'] == 0.0
    report = json.load(open(osp.join(out, 'relabel_eval.json')))
    assert report['fill'] == 'uncertain'
    assert report['pixels'] == dict(
        filled=5, prev_ignored=5, changed=0, total=16)
    assert report['metrics']['mIoU'] == pytest.approx(res['mIoU'], abs=0.01)
    assert not list(tmp_path.rglob('*.tmp'))


def test_all_fill_takes_the_prediction_everywhere(tmp_path):
    out = str(tmp_path / 'out')
    metric = _metric(prev_mask_dir=_prev_dir(tmp_path), fill='all',
                     output_dir=out)
    metric.process({}, [_sample()])
    assert np.asarray(Image.open(osp.join(out, 'img_1.png'))).tolist() == \
        PRED.tolist()
    res = metric.compute_metrics(metric.results)
    # bg: pred {00,10,23}, gt {00,01,10,11}: 2 / 5
    # a: pred {01,02,03,11,12,13,22}, gt {02,03,12,13,22,23}: 5 / 8; b: 1
    assert res['mIoU'] == pytest.approx(100 * (2 / 5 + 5 / 8 + 1) / 3,
                                        abs=0.01)
    assert res['filled_pct'] == 31.25
    # labelled before and relabelled: (0,1) 0->1, (2,3) 1->0, (3,3) 1->0
    assert res['changed_pct'] == 18.75


def test_resume_restores_identical_metrics(tmp_path):
    prev = _prev_dir(tmp_path, ids=('img_1', 'img_2'))
    out = str(tmp_path / 'out')
    metric = _metric(prev_mask_dir=prev, output_dir=out)
    metric.process({}, [_sample('img_1'), _sample('img_2', pred=PRED.T)])
    first = metric.compute_metrics(metric.results)

    again = _metric(prev_mask_dir=prev, output_dir=out)
    done = [
        SegDataSample(metainfo=dict(img_path=f'/x/{i}.jpg'))
        for i in ('img_1', 'img_2')
    ]
    assert again.load_finished(done)
    assert again.compute_metrics(again.results) == first
    # an unfinished image: not restored, nothing appended
    todo = SegDataSample(metainfo=dict(img_path='/x/img_3.jpg'))
    n = len(again.results)
    assert not again.load_finished([done[0], todo])
    assert len(again.results) == n
    # the other fill mode must not reuse these statistics
    other = _metric(prev_mask_dir=prev, fill='all', output_dir=out)
    with pytest.raises(ValueError, match='other RelabelMetric settings'):
        other.load_finished(done[:1])
    # without an output folder there is nothing to resume from
    assert not _metric(prev_mask_dir=prev).load_finished(done)


def test_format_only_counts_without_ground_truth(tmp_path):
    metric = _metric(prev_mask_dir=_prev_dir(tmp_path), format_only=True,
                     output_dir=str(tmp_path / 'out'))
    sample = _sample()
    del sample['gt_sem_seg']
    metric.process({}, [sample])
    res = metric.compute_metrics(metric.results)
    assert dict(res) == dict(filled_pct=31.25, prev_ignored_pct=31.25,
                             changed_pct=0.0)


def test_errors(tmp_path):
    prev = _prev_dir(tmp_path)
    with pytest.raises(ValueError, match="fill must be one of"):
        RelabelMetric(prev_mask_dir=prev, fill='some')
    with pytest.raises(ValueError, match='needs prev_mask_dir'):
        RelabelMetric(fill='uncertain')
    with pytest.raises(FileNotFoundError, match='is not a directory'):
        RelabelMetric(prev_mask_dir=str(tmp_path / 'nope'))
    metric = _metric(prev_mask_dir=prev)
    missing = osp.join(prev, 'img_9.png')
    with pytest.raises(FileNotFoundError, match=missing):
        metric.process({}, [_sample('img_9')])
    small = PRED[:3]
    with pytest.raises(ValueError) as e:
        metric.process({}, [_sample(pred=small, gt=GT[:3])])
    msg = str(e.value)
    assert osp.join(prev, 'img_1.png') in msg
    assert '(4, 4)' in msg and '(3, 4)' in msg
    assert metric.results == []
