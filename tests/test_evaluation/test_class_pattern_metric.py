# Copyright (c) OpenMMLab. All rights reserved.
"""The class-pattern pass (now the fitted state of ClassPatternSegmentor)
counts the images it was given for their selected classes; its masks get
the dense CRF on single-class images only (the model's post-processor), and
PseudoMaskMetric scores the model's own mask (uncertain pixels included)."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from mmwsss.evaluation import PseudoMaskMetric
from mmwsss.models import ClassPatternSegmentor
from mmwsss.models.utils import ClassPatternAccumulator
from mmwsss.testing import tiny_cam_model_cfg

init_default_scope('mmseg')

META = dict(classes=('background', 'a', 'b', 'c'),
            palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [0, 0, 128]])


def _model(**test_cfg):
    cfg = tiny_cam_model_cfg(num_fg_classes=3)
    cfg.pop('type')
    cfg['test_cfg'] = test_cfg
    return ClassPatternSegmentor(**cfg).eval()


def _pattern_sample(features, labels, cams, selected=None):
    ds = SegDataSample(metainfo=dict(img_path='x.jpg'))
    if selected is not None:
        ds.set_metainfo(dict(selected_classes=np.array(selected)))
    ds.set_data(
        dict(features=features, cam_labels=torch.tensor(labels),
             pattern_cams=cams))
    return ds


def test_pattern_pass_uses_selected_classes():
    g = torch.Generator().manual_seed(0)
    samples = [
        _pattern_sample(torch.randn(5, 3, 4, generator=g), [1, 2],
                        torch.rand(2, 3, 4, generator=g),
                        selected=[2]),  # drawn for class 2 only
        _pattern_sample(torch.randn(5, 2, 2, generator=g), [1],
                        torch.rand(1, 2, 2, generator=g)),
    ]
    model = _model()
    acc = model.accumulate_patterns(samples)
    res = model.finish_patterns(acc, 2, META['classes'])
    assert res['class_pattern/num_images'] == 2
    assert res['class_pattern/classes_without_images'] == 1  # class c
    saved = model.fitted_state()
    ref = ClassPatternAccumulator(3, 5)
    ref.update(samples[0].features, [1], samples[0].pattern_cams[[1]])
    ref.update(samples[1].features, [0], samples[1].pattern_cams)
    expected = ref.patterns('cam')
    assert saved['num_images'].tolist() == [1, 1, 0]
    assert saved['count'].tolist() == [4, 12, 0]
    for key in ('mean', 'pattern', 'cam_agreement'):
        assert torch.allclose(saved[key][:2], expected[key][:2]), key
    assert saved['meta']['feature_layer'] == 'backbone.layer4.0'
    assert saved['meta']['classes'] == list(META['classes'])
    assert res['class_pattern/mean_explained_variance'] == round(
        100 * float(saved['explained'][:2].mean()), 2)


def _sample(tmp_path, name, mask, gt, labels, cams=None, img=None):
    if img is None:
        img = np.full(mask.shape + (3, ), 128, np.uint8)
    path = str(tmp_path / f'{name}.jpg')
    Image.fromarray(img).save(path)
    labels = torch.tensor(labels)
    if cams is None:
        cams = torch.zeros((len(labels), ) + mask.shape)
    ds = SegDataSample(
        metainfo=dict(
            img_path=path,
            ori_shape=mask.shape,
            cam_bg_rule=dict(type='threshold', thr=0.0, output='model')))
    ds.set_data(
        dict(
            cams=cams,
            cam_labels=labels,
            pred_sem_seg=PixelData(data=torch.from_numpy(mask)[None]),
            gt_sem_seg=PixelData(data=torch.from_numpy(gt)[None])))
    return ds


def test_pseudo_mask_metric_scores_the_model_mask(tmp_path):
    # 2 x 4 image of classes 1 and 2; one uncertain pixel (255) on class 2
    mask = np.array([[0, 1, 1, 255], [0, 0, 2, 2]], np.int64)
    gt = np.array([[0, 1, 1, 2], [0, 0, 2, 2]], np.int64)
    model = _model()  # no CRF: the model's mask is the prediction
    sample = model.postprocess_masks(
        [_sample(tmp_path, 'a', mask, gt, [1, 2])])[0]
    assert np.array_equal(sample.pred_sem_seg.data[0].numpy(), mask)
    metric = PseudoMaskMetric(sweep=[0.5])
    metric.dataset_meta = META
    metric.process({}, [sample.to_dict()])
    res = metric.evaluate(1)
    # background 3/3, class 1 2/2, class 2: 2 right of 3 (the uncertain
    # pixel counts as missed) -> IoU 2/3; class c absent (NaN, not averaged)
    assert res['mIoU'] == pytest.approx((100 + 100 + 66.67) / 3, abs=0.01)
    assert res['output_ignored_pct'] == pytest.approx(12.5)


def test_crf_on_single_class_images_only(tmp_path):
    # a noisy multi-class mask is kept as is with crf_images='single_class'
    rng = np.random.default_rng(0)
    multi = rng.integers(0, 3, size=(16, 16)).astype(np.int64)
    single = np.zeros((16, 16), np.int64)
    single[4:12, 4:12] = 1
    single[0, 0] = 1  # an isolated pixel the CRF removes
    img = np.full((16, 16, 3), 40, np.uint8)
    img[4:12, 4:12] = 220  # the object stands out in the image
    for mode in ('single_class', 'all'):
        model = _model(crf='irn', crf_images=mode)
        kept, refined = [
            s.pred_sem_seg.data[0].numpy() for s in model.postprocess_masks([
                _sample(tmp_path, 'multi', multi, multi, [1, 2]),
                _sample(tmp_path, 'single', single, single, [1], img=img)
            ])
        ]
        if mode == 'single_class':
            assert np.array_equal(kept, multi)
        else:
            assert not np.array_equal(kept, multi)
        assert refined[0, 0] == 0  # the CRF ran on the single-class image
        assert (refined[4:12, 4:12] == 1).all()
        assert refined.sum() == 64
    with pytest.raises(ValueError, match='crf_images'):
        _model(crf='irn', crf_images='some')
