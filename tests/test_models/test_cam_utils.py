# Copyright (c) OpenMMLab. All rights reserved.
import math

import pytest
import torch

from mmwsss.models.utils import (background_score, cams_to_label,
                                 cams_to_probs, check_bg_rule,
                                 normalize_cams, power_to_threshold)


def test_normalize_cams_values():
    cams = torch.tensor([[[-1.0, 2.0], [4.0, 0.0]],
                         [[0.5, 0.25], [-3.0, 0.0]]])
    out = normalize_cams(cams, eps=0.0)
    # relu then divide by each map's own maximum (4 and 0.5)
    expected = torch.tensor([[[0.0, 0.5], [1.0, 0.0]],
                             [[1.0, 0.5], [0.0, 0.0]]])
    assert torch.allclose(out, expected)
    # with the default eps (IRN's 1e-5) the peak is just below 1
    peak = normalize_cams(cams)[0, 1, 0].item()
    assert peak == pytest.approx(4.0 / (4.0 + 1e-5))


def test_normalize_all_negative_map_is_zero():
    out = normalize_cams(-torch.ones(1, 3, 3))
    assert torch.count_nonzero(out) == 0


def test_background_scores():
    cams = torch.tensor([[[0.5, 0.0]], [[0.2, 0.9]]])  # (2, 1, 2)
    thr = background_score(cams, dict(type='threshold', thr=0.3))
    assert thr.shape == (1, 1, 2)
    assert torch.allclose(thr, torch.full((1, 1, 2), 0.3))
    power = background_score(cams, dict(type='power', alpha=2))
    # (1 - max)^2: max = 0.5 -> 0.25 ; max = 0.9 -> 0.01
    assert torch.allclose(power, torch.tensor([[[0.25, 0.01]]]))
    # background-only image: no maps, background everywhere
    empty = background_score(
        torch.zeros(0, 1, 2), dict(type='power', alpha=4))
    assert torch.allclose(empty, torch.ones(1, 1, 2))


def test_cams_to_label_threshold_and_ties():
    cams = torch.tensor([[[0.1, 0.4, 0.6, 0.3]], [[0.0, 0.5, 0.2, 0.3]]])
    labels = torch.tensor([3, 7])
    out = cams_to_label(cams, labels, dict(type='threshold', thr=0.3))
    # pixel 0: below thr -> bg; pixel 1: class 7 wins (0.5);
    # pixel 2: class 3 (0.6); pixel 3: three-way tie at 0.3 -> background
    assert out.tolist() == [[0, 7, 3, 0]]


def test_cams_to_label_background_only():
    out = cams_to_label(
        torch.zeros(0, 2, 3), torch.zeros(0, dtype=torch.long),
        dict(type='threshold', thr=0.1))
    assert out.shape == (2, 3) and torch.count_nonzero(out) == 0


def test_cams_to_probs_sums_to_one():
    cams = torch.tensor([[[0.2, 0.8]]])
    probs = cams_to_probs(cams, dict(type='threshold', thr=0.2))
    assert torch.allclose(probs.sum(0), torch.ones(1, 2))
    assert torch.allclose(probs[:, 0, 1], torch.tensor([0.2, 0.8]))
    assert torch.allclose(probs[:, 0, 0], torch.tensor([0.5, 0.5]))


def test_power_to_threshold():
    assert power_to_threshold(1) == pytest.approx(0.5)
    # t = (1 - t)^2  ->  t = (3 - sqrt(5)) / 2
    assert power_to_threshold(2) == pytest.approx((3 - math.sqrt(5)) / 2)
    t = power_to_threshold(16)
    assert t == pytest.approx((1 - t)**16, abs=1e-9)


@pytest.mark.parametrize('rule', [
    dict(type='threshold'),
    dict(type='threshold', thr=1.5),
    dict(type='power', alpha=0),
    dict(type='otsu'),
])
def test_bad_rules(rule):
    with pytest.raises(ValueError, match='background rule'):
        check_bg_rule(rule)
