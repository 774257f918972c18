# Copyright (c) OpenMMLab. All rights reserved.
import pickle

import numpy as np
# pydensecrf (pydensecrf2) is a hard dependency: without it these tests fail
import pydensecrf.densecrf as dcrf
import pytest
from pydensecrf.utils import unary_from_labels, unary_from_softmax

from mmwsss.models.refiners.dense_crf import (CRF_PRESETS, DenseCRF,
                                              dense_crf_map)

H = W = 24
PRESETS = ('psa', 'irn', 'deeplab-v2')


def _two_halves(n_cls=3, wrong_frac=0.15, seed=0):
    """Image with two flat colour halves and noisy probabilities.

    Returns image (H, W, 3) uint8, truth (H, W) in {0, 1}, probs (C, H, W)
    whose argmax is wrong on ``wrong_frac`` of the pixels (random positions).
    """
    rng = np.random.default_rng(seed)
    image = np.empty((H, W, 3), np.uint8)
    image[:, :W // 2] = (200, 40, 40)
    image[:, W // 2:] = (40, 60, 190)
    truth = np.zeros((H, W), np.int64)
    truth[:, W // 2:] = 1
    wrong = np.zeros(H * W, bool)
    wrong[rng.choice(H * W, int(round(wrong_frac * H * W)),
                     replace=False)] = True
    wrong = wrong.reshape(H, W)
    # Label that wins at each pixel: the truth, or another random class.
    shift = rng.integers(1, n_cls, size=(H, W))
    winner = np.where(wrong, (truth + shift) % n_cls, truth)
    probs = rng.uniform(0.05, 0.25, size=(n_cls, H, W))
    np.put_along_axis(probs, winner[None],
                      rng.uniform(0.6, 0.8, size=(1, H, W)), axis=0)
    probs /= probs.sum(0, keepdims=True)
    return image, truth, probs.astype(np.float32)


def _random_case(n_cls=4, h=10, w=12, seed=1):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    probs = rng.dirichlet(np.ones(n_cls), size=(h, w)).transpose(2, 0, 1)
    return image, probs.astype(np.float32)


def _reference(image, probs, t, pos_sxy, pos_w, bi_sxy, bi_srgb, bi_w,
               unary='prob', gt_prob=None):
    """Direct pydensecrf call, as in the reference code bases."""
    n, h, w = probs.shape
    d = dcrf.DenseCRF2D(w, h, n)
    if unary == 'prob':
        u = unary_from_softmax(probs)
    else:
        u = unary_from_labels(
            probs.argmax(0), n, gt_prob=gt_prob, zero_unsure=False)
    d.setUnaryEnergy(np.ascontiguousarray(u))
    d.addPairwiseGaussian(sxy=pos_sxy, compat=pos_w)
    d.addPairwiseBilateral(
        sxy=bi_sxy,
        srgb=bi_srgb,
        rgbim=np.ascontiguousarray(image),
        compat=bi_w)
    return np.array(d.inference(t)).reshape(n, h, w)


def test_presets_values():
    assert set(CRF_PRESETS) == {'psa', 'irn', 'deeplab-v2'}
    p = DenseCRF('irn').params
    assert p == dict(
        preset='irn',
        iter_max=10,
        pos_xy_std=3.0,
        pos_w=3.0,
        bi_xy_std=50.0,
        bi_rgb_std=5.0,
        bi_w=10.0,
        unary='label',
        gt_prob=0.7,
        scale_factor=1.0)
    p = DenseCRF('psa').params
    assert (p['pos_xy_std'], p['pos_w'], p['bi_xy_std'], p['bi_rgb_std'],
            p['bi_w'], p['iter_max'], p['unary'],
            p['gt_prob']) == (3, 3, 80, 13, 10, 10, 'prob', None)
    p = DenseCRF('deeplab-v2').params
    assert (p['pos_xy_std'], p['pos_w'], p['bi_xy_std'], p['bi_rgb_std'],
            p['bi_w'], p['iter_max'], p['unary']) == (1, 3, 67, 3, 4, 10,
                                                     'prob')
    # Aliases resolve to the canonical preset.
    for alias in ('seam', 'eps', 'SEAM'):
        assert DenseCRF(alias).params == DenseCRF('psa').params
    assert DenseCRF('deeplab').params == DenseCRF('deeplab-v2').params
    assert 'bi_xy_std=50.0' in repr(DenseCRF('irn'))
    assert repr(DenseCRF('irn')).startswith("DenseCRF(preset='irn'")


def test_override_keeps_rest():
    base = DenseCRF('psa').params
    p = DenseCRF('psa', bi_rgb_std=7).params
    assert p['bi_rgb_std'] == 7.0
    assert {k: v for k, v in p.items() if k != 'bi_rgb_std'} == \
        {k: v for k, v in base.items() if k != 'bi_rgb_std'}
    # Switching IRN to a probability unary drops the label-only gt_prob.
    p = DenseCRF('irn', unary='prob').params
    assert p['unary'] == 'prob' and p['gt_prob'] is None
    assert p['bi_xy_std'] == 50.0
    assert DenseCRF('irn', gt_prob=0.9).params['gt_prob'] == 0.9
    # The preset table itself is not modified.
    assert CRF_PRESETS['psa']['bi_rgb_std'] == 13.0


def test_no_preset():
    crf = DenseCRF(
        pos_xy_std=2, pos_w=1, bi_xy_std=30, bi_rgb_std=10, bi_w=5)
    assert crf.params == dict(
        preset=None,
        iter_max=10,
        pos_xy_std=2.0,
        pos_w=1.0,
        bi_xy_std=30.0,
        bi_rgb_std=10.0,
        bi_w=5.0,
        unary='prob',
        gt_prob=None,
        scale_factor=1.0)
    assert DenseCRF(
        pos_xy_std=2, pos_w=1, bi_xy_std=30, bi_rgb_std=10, bi_w=5,
        unary='label').params['gt_prob'] == 0.7


def test_errors():
    with pytest.raises(ValueError, match='nope') as e:
        DenseCRF('nope')
    for name in ('psa', 'irn', 'deeplab-v2'):
        assert name in str(e.value)
    with pytest.raises(ValueError, match='bi_rgb_std') as e:
        DenseCRF(pos_xy_std=2, pos_w=1, bi_xy_std=30, bi_w=5)
    assert 'pos_xy_std' not in str(e.value)
    with pytest.raises(ValueError, match='pos_xy_std, pos_w'):
        DenseCRF(bi_xy_std=30, bi_rgb_std=3, bi_w=5)
    with pytest.raises(ValueError, match='unary'):
        DenseCRF('psa', unary='logits')
    with pytest.raises(ValueError, match='gt_prob'):
        DenseCRF('irn', gt_prob=1.0)
    with pytest.raises(ValueError, match='gt_prob'):
        DenseCRF('psa', gt_prob=0.7)
    with pytest.raises(ValueError, match='bi_xy_std'):
        DenseCRF('psa', bi_xy_std=0)
    with pytest.raises(ValueError, match='pos_w'):
        DenseCRF('psa', pos_w=-1)
    with pytest.raises(ValueError, match='iter_max'):
        DenseCRF('psa', iter_max=2.5)
    with pytest.raises(ValueError, match='scale_factor'):
        DenseCRF('psa', scale_factor=0)


def test_input_validation():
    crf = DenseCRF('psa')
    image, probs = _random_case(h=6, w=5)
    with pytest.raises(ValueError, match=r'image.*\(6, 5, 3\).*float32'):
        crf(image.astype(np.float32), probs)
    with pytest.raises(ValueError, match=r'image.*\(6, 5\)'):
        crf(image[..., 0], probs)
    with pytest.raises(ValueError, match=r'image.*\(6, 5, 4\)'):
        crf(np.zeros((6, 5, 4), np.uint8), probs)
    with pytest.raises(TypeError, match='image'):
        crf(image.tolist(), probs)
    with pytest.raises(ValueError, match=r'probs.*\(6, 5\)'):
        crf(image, probs[0])
    with pytest.raises(
            ValueError, match=r'mismatch.*\(6, 5, 3\).*\(4, 6, 4\)'):
        crf(image, probs[:, :, :4])
    with pytest.raises(ValueError, match=r'C >= 1.*\(0, 6, 5\)'):
        crf(image, probs[:0])
    bad = probs.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        crf(image, bad)
    bad[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match='inf'):
        crf(image, bad)
    with pytest.raises(ValueError, match='>= 0'):
        crf(image, probs - 0.5)


@pytest.mark.parametrize('preset', PRESETS)
def test_denoising_two_halves(preset):
    image, truth, probs = _two_halves()
    noisy_acc = (probs.argmax(0) == truth).mean()
    assert abs(noisy_acc - 0.85) < 0.01
    crf = DenseCRF(preset)
    out = crf(image, probs)
    assert out.shape == probs.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(0), 1.0, atol=1e-5)
    labels = crf.refine_labels(image, probs)
    assert labels.dtype == np.int64 and labels.shape == (H, W)
    np.testing.assert_array_equal(labels, out.argmax(0))
    crf_acc = (labels == truth).mean()
    assert crf_acc >= 0.99 and crf_acc - noisy_acc >= 0.1, (crf_acc,
                                                            noisy_acc)


@pytest.mark.parametrize('preset', PRESETS)
def test_matches_direct_pydensecrf(preset):
    """Our wiring of the parameters equals a hand-written pydensecrf call."""
    image, probs = _random_case()
    p = DenseCRF(preset).params
    for scale in (1.0, 2.0):
        out = DenseCRF(preset, scale_factor=scale)(image, probs)
        ref = _reference(image, probs, p['iter_max'], p['pos_xy_std'] / scale,
                         p['pos_w'], p['bi_xy_std'] / scale, p['bi_rgb_std'],
                         p['bi_w'], p['unary'], p['gt_prob'])
        np.testing.assert_allclose(out, ref, atol=1e-5)
    # Unnormalised scores give the same result as normalised ones (a
    # per-pixel factor is a per-pixel constant in the unary) when no
    # probability is clipped.
    probs = np.clip(probs, 1e-3, None)
    out = DenseCRF(preset)(image, probs)
    np.testing.assert_allclose(DenseCRF(preset)(image, probs * 3.7), out,
                               atol=1e-5)


def test_zero_pairwise_is_clipped_input():
    """Without pairwise terms the mean-field fixed point is softmax(-U)."""
    image, probs = _random_case(n_cls=3, h=5, w=6)
    probs = probs.astype(np.float64)
    probs[0, 0, 0], probs[1, 0, 0], probs[2, 0, 0] = 1e-7, 0.0, 1.0
    probs[:, 1, 1] = (2e-6, 0.3, 0.7)
    probs[:, 2, 2] = 0.0  # all-zero pixel -> uniform
    scores = probs * np.linspace(0.5, 3.0, 30).reshape(1, 5, 6)
    crf = DenseCRF('psa', pos_w=0, bi_w=0)
    out = crf(image, scores)
    # pydensecrf clips to [1e-5, 1] before -log; exp(-U) normalised is the
    # clipped probabilities renormalised.
    expect = np.clip(probs, 1e-5, 1.0)
    expect[:, 2, 2] = 1.0
    expect /= expect.sum(0, keepdims=True)
    np.testing.assert_allclose(out, expect, atol=1e-6, rtol=0)
    assert abs(out[0, 0, 0] - 1e-5 / (1 + 2e-5)) < 1e-8
    np.testing.assert_allclose(out[:, 2, 2], 1 / 3, atol=1e-6)
    # Same value with 0 iterations and the pairwise terms on.
    np.testing.assert_allclose(
        DenseCRF('psa', iter_max=0)(image, scores), expect, atol=1e-6)
    # Label unary: gt_prob for the argmax, (1 - gt_prob) / (C - 1) elsewhere.
    out = DenseCRF('irn', pos_w=0, bi_w=0)(image, probs)
    expect = np.full(probs.shape, 0.15)
    np.put_along_axis(expect, probs.argmax(0)[None], 0.7, axis=0)
    np.testing.assert_allclose(out, expect, atol=1e-6)


def test_single_class():
    image, probs = _random_case(n_cls=1, h=4, w=7)
    for preset in PRESETS:
        crf = DenseCRF(preset)
        out = crf(image, probs)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, np.ones((1, 4, 7), np.float32))
        np.testing.assert_array_equal(
            crf.refine_labels(image, probs), np.zeros((4, 7), np.int64))


def test_pickle_roundtrip():
    crf = DenseCRF('irn', bi_w=6, scale_factor=0.5)
    crf2 = pickle.loads(pickle.dumps(crf))
    assert type(crf2) is DenseCRF
    assert crf2.params == crf.params and crf2 == crf
    image, probs = _random_case()
    np.testing.assert_array_equal(crf2(image, probs), crf(image, probs))


def test_dense_crf_map():
    cases = [_random_case(n_cls=3, h=8 + i, w=9, seed=i) for i in range(5)]
    images = [c[0] for c in cases]
    probs = [c[1] for c in cases]
    crf = DenseCRF('psa')
    one = dense_crf_map(crf, images, probs, workers=1)
    two = dense_crf_map(crf, images, probs, workers=2)
    assert len(one) == len(two) == 5
    for i in range(5):
        np.testing.assert_array_equal(one[i], crf(images[i], probs[i]))
        np.testing.assert_array_equal(two[i], one[i])
        assert two[i].shape == (3, 8 + i, 9)
    assert dense_crf_map(crf, [], [], workers=2) == []
    with pytest.raises(ValueError, match='workers'):
        dense_crf_map(crf, images, probs, workers=0)
    with pytest.raises(ValueError, match='same length'):
        dense_crf_map(crf, images, probs[:2])


def test_worker_path_in_process():
    """The pool's worker path on an unpickled CRF, without processes."""
    from mmwsss.models.refiners import dense_crf as mod
    crf = DenseCRF('irn')
    image, probs = _random_case()
    try:
        mod._init_worker(pickle.loads(pickle.dumps(crf)))
        np.testing.assert_array_equal(
            mod._run_worker((image, probs)), crf(image, probs))
    finally:
        mod._WORKER_CRF = None


@pytest.mark.slow
def test_dense_crf_map_spawn():
    """Spawned workers re-import the module and unpickle the CRF.

    Slow (~10 s): each spawned worker imports mmwsss, hence mmseg and torch.
    """
    cases = [_random_case(n_cls=2, h=6, w=6, seed=i) for i in range(3)]
    images = [c[0] for c in cases]
    probs = [c[1] for c in cases]
    crf = DenseCRF('deeplab-v2')
    out = dense_crf_map(crf, images, probs, workers=2, mp_context='spawn')
    for i in range(3):
        np.testing.assert_array_equal(out[i], crf(images[i], probs[i]))


def test_registry_build():
    from mmseg.registry import MODELS
    crf = MODELS.build(dict(type='DenseCRF', preset='psa'))
    assert isinstance(crf, DenseCRF)
    assert crf.params == DenseCRF('psa').params
    crf = MODELS.build(dict(type='DenseCRF', preset='irn', bi_w=4))
    assert crf.params['bi_w'] == 4.0 and crf.params['bi_xy_std'] == 50.0


def test_build_dense_crf_spellings():
    from mmwsss.models import build_dense_crf
    assert build_dense_crf(None) is None
    psa = DenseCRF(preset='psa')
    assert build_dense_crf(psa) is psa
    assert build_dense_crf('psa') == psa
    assert build_dense_crf(dict(type='DenseCRF', preset='psa')) == psa
    explicit = build_dense_crf(
        dict(pos_xy_std=1, pos_w=3, bi_xy_std=67, bi_rgb_std=3, bi_w=4))
    assert explicit.params['bi_xy_std'] == 67.0
    assert explicit.params['preset'] is None
    with pytest.raises(TypeError, match='crf must be'):
        build_dense_crf(3)
