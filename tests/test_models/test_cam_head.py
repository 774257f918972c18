# Copyright (c) OpenMMLab. All rights reserved.
import math

import pytest
import torch
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from mmwsss.models import CAMHead


def _softplus(x):
    return math.log1p(math.exp(x))


def _head_with_known_logits():
    head = CAMHead(in_channels=2, num_classes=2)
    with torch.no_grad():
        head.classifier.weight.copy_(
            torch.tensor([[1.0, 0.0], [0.0, -1.0]]).view(2, 2, 1, 1))
    # feature channel 0 == 1 and channel 1 == 2 everywhere -> logits (1, -2)
    feats = torch.ones(1, 2, 3, 3)
    feats[:, 1] = 2
    return head, feats


def _sample(score):
    ds = SegDataSample()
    ds.set_data(dict(gt_score=torch.tensor(score)))
    return ds


def test_cam_head_forward_and_pool():
    head, feats = _head_with_known_logits()
    cams = head(feats)
    assert cams.shape == (1, 2, 3, 3)
    assert torch.allclose(head.pool(cams), torch.tensor([[1.0, -2.0]]))
    assert torch.allclose(
        head.predict_scores(cams), torch.sigmoid(torch.tensor([[1.0, -2.0]])))


def test_cam_head_loss_analytic():
    head, feats = _head_with_known_logits()
    # L = -1/K sum_k [y log s(x) + (1-y) log s(-x)], y = (1, 0), x = (1, -2)
    losses = head.loss([feats], [_sample([1.0, 0.0])])
    expected = 0.5 * (_softplus(-1.0) + _softplus(-2.0))
    assert losses['loss_cls'].item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.2200948, rel=1e-6)
    # both logits on the right side of 0 -> 100 % accuracy
    assert losses['acc_cls'].item() == pytest.approx(100.0)


def test_cam_head_loss_background_only_image():
    head, feats = _head_with_known_logits()
    losses = head.loss([feats], [_sample([0.0, 0.0])])
    expected = 0.5 * (_softplus(1.0) + _softplus(-2.0))
    assert losses['loss_cls'].item() == pytest.approx(expected, rel=1e-6)
    assert losses['acc_cls'].item() == pytest.approx(50.0)


def test_cam_head_matches_torch_multilabel_soft_margin():
    torch.manual_seed(0)
    head = CAMHead(in_channels=4, num_classes=3)
    feats = torch.randn(2, 4, 5, 5)
    target = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    losses = head.loss([feats], [_sample(t.tolist()) for t in target])
    ref = torch.nn.functional.multilabel_soft_margin_loss(
        head.pool(head(feats)), target)
    assert losses['loss_cls'].item() == pytest.approx(ref.item(), rel=1e-5)


def test_cam_head_errors():
    head = CAMHead(in_channels=2, num_classes=2)
    with pytest.raises(KeyError, match='gt_score'):
        head.loss([torch.ones(1, 2, 2, 2)], [SegDataSample()])
    with pytest.raises(ValueError, match='num_classes=2'):
        head.loss([torch.ones(1, 2, 2, 2)], [_sample([1.0, 0.0, 0.0])])
    with pytest.raises(ValueError):
        CAMHead(in_channels=2, num_classes=0)


def test_cam_head_registry_build():
    head = MODELS.build(dict(type='CAMHead', in_channels=8, num_classes=4))
    assert isinstance(head, CAMHead)
    assert head.classifier.bias is None
