# Copyright (c) OpenMMLab. All rights reserved.
import json
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mmwsss.evaluation import PseudoMaskMetric, otsu_threshold

META = dict(
    classes=('background', 'a', 'b'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0]])


def _sample(img_path='/nonexistent/x.jpg', rule=None):
    """GT [0, 0, 1, 1]; CAM of class 1 = [0.1, 0.4, 0.6, 0.9]."""
    return dict(
        img_path=img_path,
        cams=torch.tensor([[[0.1, 0.4, 0.6, 0.9]]]),
        cam_labels=torch.tensor([1]),
        cam_bg_rule=rule or dict(type='threshold', thr=0.3),
        gt_sem_seg=dict(data=torch.tensor([[[0, 0, 1, 1]]])))


def _metric(**kwargs):
    m = PseudoMaskMetric(**kwargs)
    m.dataset_meta = META
    return m


def test_sweep_values_by_hand():
    metric = _metric(sweep=[0.05, 0.3, 0.4, 0.6])
    metric.process({}, [_sample()])
    res = metric.compute_metrics(metric.results)
    # configured thr 0.3 -> pred [0,1,1,1]: IoU bg 1/2, a 2/3, b absent (nan)
    assert res['mIoU'] == pytest.approx(100 * (0.5 + 2 / 3) / 2, abs=0.01)
    # 0.4 -> [0,0,1,1] exact: the oracle (first best value)
    assert res['oracle_bg'] == pytest.approx(0.4)
    assert res['oracle_mIoU'] == pytest.approx(100.0)
    # Otsu on the CAM maxima {0.1, 0.4, 0.6, 0.9}: the between-class
    # variance is largest for the split {0.1, 0.4} | {0.6, 0.9}; the first
    # bin edge achieving it is 0.41, whose nearest swept value is 0.4
    t = otsu_threshold(
        np.histogram([0.1, 0.4, 0.6, 0.9], bins=100, range=(0, 1))[0])
    assert t == pytest.approx(0.41)
    assert res['gt_free_bg'] == pytest.approx(0.4)
    assert res['gt_free_mIoU'] == pytest.approx(100.0)


def test_power_rule_sweep():
    rule = dict(type='power', alpha=1)
    metric = _metric(sweep=[1, 2])
    metric.process({}, [_sample(rule=rule)])
    res = metric.compute_metrics(metric.results)
    # alpha 1: bg = 1 - m -> fg where m > 0.5 -> [0,0,1,1] -> 100
    assert res['mIoU'] == pytest.approx(100.0)
    # alpha 2: fg where m > (1-m)^2 i.e. m > 0.382 -> [0,1,1,1]
    assert res['oracle_bg'] == 1.0


def test_otsu_bimodal():
    hist = np.zeros(100)
    hist[10] = 50
    hist[80] = 50
    t = otsu_threshold(hist)
    assert 0.1 < t <= 0.8
    assert otsu_threshold(np.zeros(10)) == 0.5


def test_writes_palette_png_and_resumes(tmp_path):
    out = str(tmp_path / 'pseudo')
    metric = _metric(sweep=[0.3, 0.5], output_dir=out, save_cams=True)
    metric.process({}, [_sample('/data/img_001.jpg')])
    first = metric.compute_metrics(metric.results)
    png = Image.open(osp.join(out, 'img_001.png'))
    assert png.mode == 'P'
    assert np.asarray(png).tolist() == [[0, 1, 1, 1]]
    assert png.getpalette()[3:6] == [128, 0, 0]
    with np.load(osp.join(out, 'cams', 'img_001.npz')) as f:
        assert f['labels'].tolist() == [1]
        assert f['cams'].dtype == np.float16
    report = json.load(open(osp.join(out, 'pseudo_mask_eval.json')))
    assert report['oracle_gt_tuned']['mIoU'] == pytest.approx(100.0)
    assert not [p for p in tmp_path.rglob('*.tmp')]

    again = _metric(sweep=[0.3, 0.5], output_dir=out, save_cams=True)
    from mmseg.structures import SegDataSample
    ds = SegDataSample(metainfo=dict(img_path='/data/img_001.jpg'))
    assert again.load_finished([ds])
    assert again.compute_metrics(again.results) == first
    # an unfinished image is not restored, and nothing is appended
    ds2 = SegDataSample(metainfo=dict(img_path='/data/img_002.jpg'))
    n = len(again.results)
    assert not again.load_finished([ds, ds2])
    assert len(again.results) == n
    # other settings -> a clear error instead of mixing results
    other = _metric(sweep=[0.1], output_dir=out)
    with pytest.raises(ValueError, match='other PseudoMaskMetric settings'):
        other.load_finished([ds])


def test_crf_column(tmp_path):
    img = np.zeros((1, 4, 3), dtype=np.uint8)
    img[0, 2:] = 255
    path = str(tmp_path / 'im.png')
    Image.fromarray(img).save(path)
    metric = _metric(sweep=[0.3, 0.4], crf='psa')
    metric.process({}, [_sample(path)])
    res = metric.compute_metrics(metric.results)
    # the CRF column must equal the CRF applied independently to the same
    # unary, argmax-ed and scored against the GT [0, 0, 1, 1]
    from mmwsss.models import DenseCRF, cams_to_probs
    cams = _sample()['cams']
    expected = []
    for thr in (0.3, 0.4):
        probs = cams_to_probs(cams, dict(type='threshold', thr=thr)).numpy()
        pred = DenseCRF('psa')(img, probs).argmax(0)[0]
        gt = np.array([0, 0, 1, 1])
        ious = [((pred == c) & (gt == c)).sum() / ((pred == c) | (gt == c)).sum()
                for c in (0, 1) if ((pred == c) | (gt == c)).any()]
        expected.append(100 * np.mean(ious))
    assert res['oracle_mIoU_crf'] == pytest.approx(max(expected), abs=0.01)
    # gt-free Otsu threshold 0.41 -> nearest CRF value 0.4
    assert res['gt_free_mIoU_crf'] == pytest.approx(expected[1], abs=0.01)


def test_rejects_non_cam_outputs():
    metric = _metric()
    with pytest.raises(KeyError, match='CAMSegmentor'):
        metric.process({}, [dict(img_path='x.jpg')])


def test_crf_sweep_subset(tmp_path):
    img = np.zeros((1, 4, 3), dtype=np.uint8)
    img[0, 2:] = 255
    path = str(tmp_path / 'im.png')
    Image.fromarray(img).save(path)
    metric = _metric(sweep=[0.3, 0.4, 0.6], crf='psa', crf_sweep=[0.4])
    settings = metric._settings(dict(type='threshold', thr=0.3))
    # output (thr 0.3 + CRF), three values without CRF, one with
    assert [(r['thr'], c) for r, c in settings] == [(0.3, True), (0.3, False),
                                                    (0.4, False),
                                                    (0.6, False), (0.4, True)]
    metric.process({}, [_sample(path)])
    res = metric.compute_metrics(metric.results)
    assert 0 <= res['oracle_mIoU_crf'] <= 100


def test_own_background_decides_the_output(tmp_path):
    """A refiner's bg_score (AffinityNet's propagated background) gives the
    output masks; the sweep still uses the threshold rule."""
    sample = _sample(
        '/data/img_002.jpg',
        rule=dict(type='threshold', thr=0.3, output='propagated'))
    # argmax([bg, cam]): bg [0.5, 0.5, 0.7, 0.1] vs cam [0.1, 0.4, 0.6, 0.9]
    # -> [0, 0, 0, 1]: bg IoU 2/3, a 1/2
    sample['bg_score'] = torch.tensor([[[0.5, 0.5, 0.7, 0.1]]])
    out = str(tmp_path / 'masks')
    metric = _metric(sweep=[0.3, 0.4], output_dir=out)
    metric.process({}, [sample])
    res = metric.compute_metrics(metric.results)
    assert res['mIoU'] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2, abs=0.01)
    assert res['oracle_mIoU'] == pytest.approx(100.0)  # thr 0.4, as before
    png = np.asarray(Image.open(osp.join(out, 'img_002.png')))
    assert png.tolist() == [[0, 0, 0, 1]]
    report = json.load(open(osp.join(out, 'pseudo_mask_eval.json')))
    assert report['configured']['rule']['output'] == 'propagated'
