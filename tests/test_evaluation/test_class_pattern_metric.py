# Copyright (c) OpenMMLab. All rights reserved.
"""ClassPatternMetric writes the patterns of the images it was given, and
PseudoMaskMetric scores a model's own mask (uncertain pixels included)."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mmwsss.evaluation import ClassPatternMetric, PseudoMaskMetric
from mmwsss.models.utils import ClassPatternAccumulator

META = dict(classes=('background', 'a', 'b', 'c'),
            palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [0, 0, 128]])


def test_class_pattern_metric_uses_selected_classes(tmp_path):
    g = torch.Generator().manual_seed(0)
    samples = [
        dict(features=torch.randn(5, 3, 4, generator=g),
             cam_labels=torch.tensor([1, 2]),
             selected_classes=np.array([2]),  # drawn for class 2 only
             pattern_cams=torch.rand(2, 3, 4, generator=g),
             feature_layer='backbone.layer4.0', img_path='x.jpg'),
        dict(features=torch.randn(5, 2, 2, generator=g),
             cam_labels=torch.tensor([1]),
             pattern_cams=torch.rand(1, 2, 2, generator=g),
             feature_layer='backbone.layer4.0', img_path='y.jpg'),
    ]
    metric = ClassPatternMetric(output_dir=str(tmp_path))
    metric.dataset_meta = META
    metric.process({}, samples)
    res = metric.evaluate(2)
    assert res['class_pattern/num_images'] == 2
    assert res['class_pattern/classes_without_images'] == 1  # class c
    saved = torch.load(osp.join(tmp_path, 'class_patterns.pth'))
    ref = ClassPatternAccumulator(3, 5)
    ref.update(samples[0]['features'], [1], samples[0]['pattern_cams'][[1]])
    ref.update(samples[1]['features'], [0], samples[1]['pattern_cams'])
    expected = ref.patterns('cam')
    assert saved['num_images'].tolist() == [1, 1, 0]
    assert saved['count'].tolist() == [4, 12, 0]
    for key in ('mean', 'pattern', 'cam_agreement'):
        assert torch.allclose(saved[key][:2], expected[key][:2]), key
    assert saved['meta']['feature_layer'] == 'backbone.layer4.0'
    assert saved['meta']['classes'] == list(META['classes'])
    with pytest.raises(KeyError, match='pattern-pass'):
        metric.process({}, [dict(cams=torch.zeros(1, 2, 2), img_path='z')])


def _sample(tmp_path, name, mask, gt, labels, cams=None, img=None):
    if img is None:
        img = np.full(mask.shape + (3, ), 128, np.uint8)
    path = str(tmp_path / f'{name}.jpg')
    Image.fromarray(img).save(path)
    labels = torch.tensor(labels)
    if cams is None:
        cams = torch.zeros((len(labels), ) + mask.shape)
    return dict(
        img_path=path,
        cams=cams,
        cam_labels=labels,
        cam_bg_rule=dict(type='threshold', thr=0.0, output='model'),
        pred_sem_seg=dict(data=torch.from_numpy(mask)[None]),
        gt_sem_seg=dict(data=torch.from_numpy(gt)[None]))


def test_pseudo_mask_metric_scores_the_model_mask(tmp_path):
    # 2 x 4 image of classes 1 and 2; one uncertain pixel (255) on class 2
    mask = np.array([[0, 1, 1, 255], [0, 0, 2, 2]], np.int64)
    gt = np.array([[0, 1, 1, 2], [0, 0, 2, 2]], np.int64)
    out = str(tmp_path / 'out')
    metric = PseudoMaskMetric(output_dir=out, sweep=[0.5])
    metric.dataset_meta = META
    metric.process({}, [_sample(tmp_path, 'a', mask, gt, [1, 2])])
    res = metric.evaluate(1)
    # background 3/3, class 1 2/2, class 2: 2 right of 3 (the uncertain
    # pixel counts as missed) -> IoU 2/3; class c absent (NaN, not averaged)
    assert res['mIoU'] == pytest.approx((100 + 100 + 66.67) / 3, abs=0.01)
    assert res['output_ignored_pct'] == pytest.approx(12.5)
    written = np.asarray(Image.open(osp.join(out, 'a.png')))
    assert np.array_equal(written, mask)
    report = json.load(open(osp.join(out, 'pseudo_mask_eval.json')))
    assert report['configured']['ignored_pct'] == pytest.approx(12.5)


def test_pseudo_mask_metric_crf_on_single_class_images_only(tmp_path):
    # a noisy multi-class mask is kept as is with crf_images='single_class'
    rng = np.random.default_rng(0)
    multi = rng.integers(0, 3, size=(16, 16)).astype(np.int64)
    single = np.zeros((16, 16), np.int64)
    single[4:12, 4:12] = 1
    single[0, 0] = 1  # an isolated pixel the CRF removes
    img = np.full((16, 16, 3), 40, np.uint8)
    img[4:12, 4:12] = 220  # the object stands out in the image
    metrics = {}
    for mode in ('single_class', 'all'):
        out = str(tmp_path / mode)
        m = PseudoMaskMetric(output_dir=out, sweep=[0.5], crf='irn',
                             crf_images=mode)
        m.dataset_meta = META
        m.process({}, [
            _sample(tmp_path, 'multi', multi, multi, [1, 2]),
            _sample(tmp_path, 'single', single, single, [1], img=img)
        ])
        metrics[mode] = m
        kept = np.asarray(Image.open(osp.join(out, 'multi.png')))
        if mode == 'single_class':
            assert np.array_equal(kept, multi)
        else:
            assert not np.array_equal(kept, multi)
        refined = np.asarray(Image.open(osp.join(out, 'single.png')))
        assert refined[0, 0] == 0  # the CRF ran on the single-class image
        assert (refined[4:12, 4:12] == 1).all()
        assert refined.sum() == 64
    with pytest.raises(ValueError, match='crf_images'):
        PseudoMaskMetric(crf_images='some')
