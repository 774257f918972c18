# Copyright (c) OpenMMLab. All rights reserved.
"""EPS: foreground/background split, saliency loss and head, by hand."""
import math

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmwsss.models import (CAMSegmentor, EPSHead, EPSLoss,
                           eps_estimated_saliency, eps_split_classes)
from mmwsss.testing import demo_wsss_inputs, tiny_cam_model_cfg


def _row(on, length=40):
    """A (1, 1, 1, length) map that is 1 on the index range ``on``."""
    m = torch.zeros(1, 1, 1, length)
    m[..., on[0]:on[1]] = 1.0
    return m


def test_split_classes_around_tau():
    # saliency: pixels 0..19 of 40 are salient
    sal = _row((0, 20)) * 0.9
    # class 1 covers 11..30: 9 of its 20 pixels salient -> O = 0.45 > 0.4
    # class 2 covers 13..32: 7 of 20 -> O = 0.35 <= 0.4
    # class 3 covers 12..31: 8 of 20 -> O = 0.40 exactly, not > tau
    probs = torch.cat([_row((11, 31)), _row((13, 33)), _row((12, 32))], 1)
    probs = probs * 0.8  # above the 0.5 binarisation
    labels = torch.tensor([[1., 1., 1.]])
    fg, overlap = eps_split_classes(probs, sal, labels, tau=0.4)
    assert torch.allclose(overlap, torch.tensor([[0.45, 0.35, 0.40]]))
    assert fg.tolist() == [[True, False, False]]
    # a class that is not in the image is never foreground
    fg, _ = eps_split_classes(probs, sal, torch.tensor([[0., 1., 1.]]), 0.4)
    assert fg.tolist() == [[False, False, False]]
    # an image with no foreground class: nothing is foreground
    fg, _ = eps_split_classes(probs, sal, torch.zeros(1, 3), 0.4)
    assert not fg.any()
    # a class whose map never exceeds 0.5 has O = 0
    fg, overlap = eps_split_classes(probs * 0.6, sal, labels, 0.4)
    assert overlap.tolist() == [[0.0, 0.0, 0.0]] and not fg.any()
    # the saliency is binarised at 0.5 too: at 0.5 nothing is salient
    _, overlap = eps_split_classes(probs, sal * 0 + 0.5, labels, 0.4)
    assert overlap.tolist() == [[0.0, 0.0, 0.0]]


# four pixels (2 x 2), maps (class 1, class 2, background) per pixel
_PROBS = torch.tensor([[0.7, 0.1, 0.2], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8],
                       [0.2, 0.7, 0.1]]).t().reshape(1, 3, 2, 2)
_SAL = torch.tensor([1.0, 0.8, 0.0, 0.2]).reshape(1, 1, 2, 2)


def test_estimated_saliency_by_hand():
    labels = torch.tensor([[1., 1.]])
    fg, overlap = eps_split_classes(_PROBS[:, :2], _SAL, labels, 0.4)
    # class 1 (>0.5 on pixels 0, 1, both salient): O = 1; class 2 (pixel 3,
    # not salient): O = 0
    assert overlap.tolist() == [[1.0, 0.0]]
    est = eps_estimated_saliency(_PROBS, labels, fg, lam=0.5)
    # M_fg = p1, M_bg = p2 + p_bg -> 0.5 * p1 + 0.5 * (1 - p2 - p_bg) = p1
    assert torch.allclose(est.flatten(), torch.tensor([0.7, 0.6, 0.1, 0.2]))


@pytest.mark.parametrize('labels,lam,valid,expected', [
    # all classes in the image: S_hat = (0.7, 0.6, 0.1, 0.2)
    ((1., 1.), 0.5, None, (0.09 + 0.04 + 0.01 + 0.0) / 4),
    # class 2 absent: M_bg = p_bg, 1 - M_bg = (0.8, 0.8, 0.2, 0.9),
    # S_hat = (0.75, 0.70, 0.15, 0.55)
    ((1., 0.), 0.5, None, (0.0625 + 0.01 + 0.0225 + 0.1225) / 4),
    # lambda 0.9 (COCO): S_hat = (0.71, 0.62, 0.11, 0.27)
    ((1., 0.), 0.9, None, (0.0841 + 0.0324 + 0.0121 + 0.0049) / 4),
    # pixel 3 invalid (padding): mean over the three others
    ((1., 0.), 0.5, (1, 1, 1, 0), (0.0625 + 0.01 + 0.0225) / 3),
])
def test_eps_loss_by_hand(labels, lam, valid, expected):
    loss = EPSLoss(tau=0.4, lam=lam, loss_weight=2.0)
    logits = torch.log(_PROBS)  # softmax(log p) = p
    if valid is not None:
        valid = torch.tensor(valid, dtype=torch.bool).reshape(1, 1, 2, 2)
    value = loss(logits, _SAL, torch.tensor([labels]), valid)
    assert math.isclose(value.item(), 2.0 * expected, rel_tol=1e-5)


def test_eps_loss_resizes_saliency_nearest_and_checks_labels():
    loss = EPSLoss()
    logits = torch.log(_PROBS)
    # a 4 x 4 saliency whose nearest 2 x 2 sample is _SAL
    big = _SAL.repeat_interleave(2, -1).repeat_interleave(2, -2)
    assert torch.allclose(
        loss(logits, big, torch.tensor([[1., 1.]])),
        loss(logits, _SAL, torch.tensor([[1., 1.]])))
    with pytest.raises(ValueError, match='3 maps need 2 image labels'):
        loss(logits, _SAL, torch.tensor([[1., 1., 0.]]))
    with pytest.raises(ValueError, match='tau and lam'):
        EPSLoss(tau=1.5)
    # no valid pixel at all: zero, and still differentiable
    logits = logits.clone().requires_grad_()
    value = loss(logits, _SAL, torch.tensor([[1., 1.]]),
                 torch.zeros(1, 1, 2, 2, dtype=torch.bool))
    value.backward()
    assert value.item() == 0 and logits.grad is not None


def _eps_model():
    cfg = tiny_cam_model_cfg(num_fg_classes=5)
    cfg['cam_head'] = dict(
        type='EPSHead', in_channels=cfg['cam_head']['in_channels'],
        num_classes=5)
    cfg.pop('type')
    return CAMSegmentor(**cfg)


def test_eps_head_loss_and_predict():
    torch.manual_seed(0)
    model = _eps_model()
    assert model.cam_head.classifier.out_channels == 6
    data = demo_wsss_inputs(batch_size=2, image_shape=(3, 32, 32))
    # the second image is smaller (a crop): its saliency pads as invalid
    data['inputs'][1] = data['inputs'][1][:, :24, :28]
    for ds, (h, w) in zip(data['data_samples'], [(32, 32), (24, 28)]):
        ds.gt_saliency = PixelData(data=torch.rand(1, h, w))
        ds.set_metainfo(dict(img_shape=(h, w)))
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_sal', 'acc_cls'}
    assert losses['loss_sal'].item() > 0
    sal, valid = EPSHead.batch_saliency(batch['data_samples'], (32, 32))
    assert valid[0].all() and valid[1, 0, :24, :28].all()
    assert not valid[1, 0, 24:].any() and not valid[1, 0, :, 28:].any()
    # invalid saliency (fallback='ignore') leaves only the classification
    batch['data_samples'][0].set_metainfo(dict(saliency_valid=False))
    _, valid = EPSHead.batch_saliency(batch['data_samples'], (32, 32))
    assert not valid[0].any()
    # a sample without saliency is a clear error
    del batch['data_samples'][1].gt_saliency
    with pytest.raises(KeyError, match='LoadSaliencyMap'):
        model(**batch, mode='loss')
    # prediction: softmax maps of the C classes, background channel dropped
    model.eval()
    out = model.cam_head(model.extract_feat(torch.randn(1, 3, 32, 32)))
    maps = model.cam_head.localization_maps(out)
    assert torch.allclose(maps, torch.softmax(out, 1)[:, :5])
    assert torch.allclose(
        model.cam_head.image_logits(out), out.mean((2, 3))[:, :5])
    sample = SegDataSample(metainfo=dict(ori_shape=(32, 32),
                                         img_shape=(32, 32)))
    sample.set_data(dict(gt_score=torch.tensor([1., 0., 0., 1., 0.])))
    pred = model.predict(torch.randn(1, 3, 32, 32), [sample])[0]
    assert pred.cam_labels.tolist() == [1, 4]
    assert pred.cams.shape == (2, 32, 32)
    assert float(pred.cams.max()) <= 1.0
