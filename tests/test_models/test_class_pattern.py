# Copyright (c) OpenMMLab. All rights reserved.
"""Class patterns of Luo & Yang (AAAI 2020): streaming statistics, sign
rule, Algorithm 1, the per-class image draw and the segmentor (its fitted
state)."""
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from mmengine.registry import init_default_scope

from mmwsss.datasets import sample_per_class
from mmwsss.models import ClassPatternSegmentor
from mmwsss.models.utils import (ClassPatternAccumulator, class_pattern_mask,
                                 class_pattern_projections)
from mmwsss.testing import demo_wsss_inputs, tiny_cam_model_cfg

init_default_scope('mmseg')


def _two_direction_features(seed=0, d=16, n_obj=300, n_bg=700):
    """Object features around ``u``, background around ``v``."""
    g = torch.Generator().manual_seed(seed)
    u = torch.zeros(d, dtype=torch.float64)
    u[0] = 1.0
    v = torch.zeros(d, dtype=torch.float64)
    v[1] = 1.0
    obj = 4 * u + 0.3 * torch.randn(n_obj, d, generator=g, dtype=torch.float64)
    bg = 4 * v + 0.3 * torch.randn(n_bg, d, generator=g, dtype=torch.float64)
    return obj, bg


def test_pattern_separates_two_directions():
    obj, bg = _two_direction_features()
    acc = ClassPatternAccumulator(num_classes=1, dim=16)
    # three "images" of a few pixels each; the CAM is on the object
    feats = torch.cat([obj, bg])
    cams = torch.cat([torch.ones(len(obj)), torch.zeros(len(bg))])
    perm = torch.randperm(len(feats), generator=torch.Generator().manual_seed(1))
    for chunk in perm.chunk(3):
        acc.update(feats[chunk], [0], cams[chunk][None].double())
    out = acc.patterns('cam')
    mean, xi = out['mean'][0], out['pattern'][0]
    q_obj = (obj - mean) @ xi
    q_bg = (bg - mean) @ xi
    assert (q_obj > 0).all() and (q_bg < 0).all()
    # the pattern is (u - v) / sqrt(2) up to noise
    expected = torch.zeros(16, dtype=torch.float64)
    expected[0], expected[1] = 2**-0.5, -2**-0.5
    assert torch.allclose(xi, expected, atol=0.05)
    assert out['cam_agreement'][0] > 0
    # explained variance of the first component is the large share
    assert out['explained'][0] > 0.8


def test_streaming_covariance_equals_direct():
    g = torch.Generator().manual_seed(3)
    d, num_classes = 7, 3
    acc = ClassPatternAccumulator(num_classes, d)
    per_class = {c: [] for c in range(num_classes)}
    # images of different sizes, each in one or two classes, large offset
    # (cancellation is the risk of raw moments)
    for i, classes in enumerate([[0], [0, 1], [2], [1, 2], [0, 2], [1]]):
        h, w = 3 + i, 5 + (i % 3)
        f = 50 + 3 * torch.randn(d, h, w, generator=g, dtype=torch.float64)
        acc.update(f, classes)
        for c in classes:
            per_class[c].append(f.flatten(1).t())
    mean, cov = acc.mean(), acc.covariance()
    for c in range(num_classes):
        x = torch.cat(per_class[c])
        direct_mean = x.mean(0)
        direct_cov = (x - direct_mean).t() @ (x - direct_mean) / len(x)
        assert acc.count[c] == len(x)
        assert torch.allclose(mean[c], direct_mean, atol=1e-6, rtol=0)
        assert torch.allclose(cov[c], direct_cov, atol=1e-6, rtol=0)
        # and the same principal direction as a direct eigendecomposition
        vec = torch.linalg.eigh(direct_cov)[1][:, -1]
        got = acc.patterns('none')['pattern'][c]
        assert abs(float(vec @ got)) == pytest.approx(1.0, abs=1e-6)
    # float32 features: the heavy product in float32, the sums in float64
    acc32 = ClassPatternAccumulator(num_classes, d)
    for c in range(num_classes):
        acc32.update(torch.cat(per_class[c]).float(), [c])
    assert torch.allclose(acc32.covariance(), cov, atol=1e-4, rtol=1e-4)


def test_merge_equals_one_accumulator():
    g = torch.Generator().manual_seed(5)
    feats = [torch.randn(4, 3, 3, generator=g) for _ in range(4)]
    one, a, b = (ClassPatternAccumulator(2, 4) for _ in range(3))
    for i, f in enumerate(feats):
        one.update(f, [i % 2])
        (a if i < 2 else b).update(f, [i % 2])
    a.merge(b)
    for name, value in one.state_dict().items():
        assert torch.equal(value, a.state_dict()[name]), name


def _reduce_worker(rank, port, feats, out):
    import torch.distributed as dist
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    dist.init_process_group('gloo', rank=rank, world_size=2)
    acc = ClassPatternAccumulator(2, 4)
    for i, f in enumerate(feats):
        if i % 2 == rank:  # each process sees half of the images
            acc.update(f, [i % 2, 1] if i == 0 else [i % 2])
    acc.all_reduce()
    if rank == 0:
        torch.save(acc.state_dict(), out)
    dist.destroy_process_group()


def test_all_reduce_over_two_gloo_processes(tmp_path):
    g = torch.Generator().manual_seed(7)
    feats = [torch.randn(4, 3, 2, generator=g, dtype=torch.float64)
             for _ in range(5)]
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out = str(tmp_path / 'reduced.pth')
    # forked, not spawned: a spawned child re-imports this module (torch,
    # mmseg...), which costs seconds; the reduction is the same
    mp.start_processes(
        _reduce_worker,
        args=(port, feats, out),
        nprocs=2,
        join=True,
        start_method='fork')
    single = ClassPatternAccumulator(2, 4)
    for i, f in enumerate(feats):
        single.update(f, [i % 2, 1] if i == 0 else [i % 2])
    reduced = torch.load(out)
    for name, value in single.state_dict().items():
        assert torch.allclose(reduced[name], value, atol=1e-9), name


def test_sign_rule_follows_the_cam():
    obj, bg = _two_direction_features(seed=2)
    feats = torch.cat([obj, bg])
    on_obj = torch.cat([torch.ones(len(obj)), torch.zeros(len(bg))]).double()
    patterns = {}
    for name, cam in (('obj', on_obj), ('bg', 1 - on_obj)):
        acc = ClassPatternAccumulator(1, 16)
        acc.update(feats, [0], cam[None])
        patterns[name] = acc.patterns('cam')
        none = acc.patterns('none')['pattern'][0]
        # 'none': the canonical sign, largest |entry| positive
        assert none[none.abs().argmax()] > 0
    # a CAM on the background turns the pattern around
    assert torch.allclose(patterns['obj']['pattern'][0],
                          -patterns['bg']['pattern'][0])
    assert patterns['obj']['cam_agreement'][0] > 0
    assert patterns['bg']['cam_agreement'][0] > 0
    # with the object's CAM, the object projects positive
    mean, xi = patterns['obj']['mean'][0], patterns['obj']['pattern'][0]
    assert ((obj - mean) @ xi > 0).all()
    # hand check of the rule: sign(xi . (sum cam*t - mean * sum cam))
    cov_cam = (on_obj[:, None] * feats).sum(0) - mean * on_obj.sum()
    assert float(xi @ cov_cam) > 0


def test_patterns_of_empty_class_and_bad_input():
    acc = ClassPatternAccumulator(3, 2)
    acc.update(torch.randn(2, 4, 4), [0, 2],
               torch.rand(2, 4, 4))
    out = acc.patterns()
    assert torch.isnan(out['pattern'][1]).all() and out['count'][1] == 0
    assert not torch.isnan(out['pattern'][0]).any()
    with pytest.raises(ValueError, match='out of range'):
        acc.update(torch.randn(2, 4, 4), [3])
    with pytest.raises(ValueError, match='channels'):
        acc.update(torch.randn(5, 4, 4), [0])
    with pytest.raises(ValueError, match='sign_rule'):
        acc.patterns('majority')


def test_projections_eq3():
    feats = torch.tensor([[[1.0, 2.0]], [[3.0, -1.0]]])  # d=2, 1x2
    means = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    patterns = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    q = class_pattern_projections(feats, means, patterns)
    # class 0: (t - (1,1)) . (1,0): pixel a (1,3) -> 0, pixel b (2,-1) -> 1
    # class 1: t . (0.6,0.8): a -> 0.6+2.4=3.0, b -> 1.2-0.8=0.4
    assert torch.allclose(q, torch.tensor([[[0.0, 1.0]], [[3.0, 0.4]]]))


def test_algorithm1_three_cases():
    # classes 3 and 7; four pixels: none positive, only 3, only 7, both
    q = torch.tensor([[[-1.0, 2.0, -0.5, 0.3]], [[-2.0, -0.1, 0.7, 0.2]]])
    labels = torch.tensor([3, 7])
    mask = class_pattern_mask(q, labels)
    assert mask.tolist() == [[0, 3, 7, 255]]
    # a margin moves the boundary: 0.25 leaves pixel 4 to class 3 only
    assert class_pattern_mask(q, labels, margin=0.25).tolist() == \
        [[0, 3, 7, 3]]
    assert class_pattern_mask(q, labels, ignore_index=9).tolist() == \
        [[0, 3, 7, 9]]
    # q exactly 0 is not positive
    assert class_pattern_mask(torch.zeros(1, 1, 2), torch.tensor([4])
                              ).tolist() == [[0, 0]]
    # no classes: all background
    assert class_pattern_mask(torch.zeros(0, 2, 2), torch.zeros(0)
                              ).tolist() == [[0, 0], [0, 0]]
    with pytest.raises(ValueError, match='labels'):
        class_pattern_mask(q, torch.tensor([3]))


def test_sample_per_class():
    labels = [np.array([1]), np.array([1, 2]), np.array([2]), np.array([1]),
              np.array([]), np.array([1, 3])]
    chosen = sample_per_class(labels, 2, seed=0)
    per_class = {}
    for idx, classes in chosen.items():
        for c in classes:
            assert c in labels[idx]
            per_class.setdefault(c, []).append(idx)
    # class 1 has 4 images -> 2 drawn; classes 2 (2 images), 3 (1) all kept
    assert len(per_class[1]) == 2
    assert sorted(per_class[2]) == [1, 2] and per_class[3] == [5]
    assert 4 not in chosen
    assert sample_per_class(labels, 2, seed=0) == chosen
    # each class draws on its own: a larger cap keeps class 2's images
    assert sorted(i for i, c in sample_per_class(labels, 10, 0).items()
                  if 1 in c) == [0, 1, 3, 5]
    with pytest.raises(ValueError, match='>= 1'):
        sample_per_class(labels, 0, 0)


# ---------------------------------------------------------------------------
def _model(feature_layer='backbone.layer3', **kwargs):
    cfg = tiny_cam_model_cfg()
    cfg.pop('type')
    test_cfg = {k: kwargs.pop(k) for k in list(kwargs) if k not in (
        'pattern_dataloader', 'sign_rule', 'accumulate_on')}
    cfg['test_cfg'] = test_cfg
    return ClassPatternSegmentor(
        feature_layer=feature_layer, **cfg, **kwargs).eval()


class _ListDataset(torch.utils.data.Dataset):
    """Preprocessable batches of demo images, with dataset meta."""

    metainfo = dict(classes=('background', 'a', 'b', 'c', 'd', 'e'))

    def __init__(self, labels, selected=None):
        data = demo_wsss_inputs(batch_size=len(labels),
                                image_shape=(3, 32, 32), labels=labels)
        self.items = []
        for i, (img, ds) in enumerate(zip(data['inputs'],
                                          data['data_samples'])):
            if selected is not None and selected[i] is not None:
                ds.set_metainfo(
                    dict(selected_classes=np.asarray(selected[i])))
            self.items.append(dict(inputs=img, data_samples=ds))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _loader(labels, selected=None, batch_size=2):
    from mmengine.dataset import pseudo_collate
    return torch.utils.data.DataLoader(
        _ListDataset(labels, selected), batch_size=batch_size,
        collate_fn=pseudo_collate)


LABELS = [[1, 3], [2], [1], [4, 5], [3], [1, 2]]
# the first image was drawn for class 3 only (PerClassDrawDataset)
SELECTED = [[3], None, None, None, None, None]


def test_segmentor_pattern_pass_crops_padding():
    model = _model()
    data = demo_wsss_inputs(batch_size=2, image_shape=(3, 40, 40),
                            labels=[[1, 3], [2]])
    data = model.data_preprocessor(data, False)
    inputs = data['inputs']
    # pretend the first image was 24 x 40 and padded to the batch size
    data['data_samples'][0].set_metainfo(dict(img_shape=(24, 40)))
    out = model.pattern_pass(inputs, data['data_samples'])
    assert out[0].features.shape[0] == 32  # layer3 of the 1/8-width ResNet
    full = out[1].features.shape[1:]
    h_valid = -(-24 * full[0] // inputs.shape[2])
    assert tuple(out[0].features.shape[1:]) == (h_valid, full[1])
    assert out[0].pattern_cams.shape == (2, h_valid, full[1])
    assert out[0].cam_labels.tolist() == [1, 3]
    assert (out[0].pattern_cams >= 0).all()
    assert out[0].metainfo['feature_layer'] == 'backbone.layer3'


def test_background_only_image_in_the_pattern_pass():
    """An image without a class (found by tests/test_registry.py, which
    fits on every train image): no CAMs, nothing accumulated for it."""
    model = _model()
    loader = _loader([[1, 3], [], [2]], batch_size=3)
    batch = model.data_preprocessor(next(iter(loader)), False)
    out = model.pattern_pass(batch['inputs'], batch['data_samples'])
    assert out[1].cam_labels.tolist() == []
    assert out[1].pattern_cams.shape == (0, ) + out[1].features.shape[1:]
    # the same sums as without that image
    batch = model.data_preprocessor(next(iter(loader)), False)
    ref = model.accumulate_patterns(
        model.pattern_pass(batch['inputs'][[0, 2]],
                           [batch['data_samples'][i] for i in (0, 2)]))
    acc = model.accumulate_patterns(out)
    for key in ('mean', 'pattern', 'count'):
        assert torch.allclose(
            acc.patterns('cam')[key],
            ref.patterns('cam')[key],
            equal_nan=True), key
    assert acc.patterns('cam')['count'].tolist()[:3] == [16, 16, 16]


def test_fit_state_counts_selected_classes_and_is_non_persistent():
    model = _model(pattern_dataloader=_loader(LABELS, SELECTED))
    assert not model.is_fitted
    # before fitting, validation is the classifier's: image scores only
    batch = demo_wsss_inputs(batch_size=1, image_shape=(3, 32, 32),
                             labels=[[2]])
    out = model.val_step(batch)[0]
    data = model.data_preprocessor(batch, False)
    expected = torch.sigmoid(
        model.cam_head.image_logits(model._forward(data['inputs'])))[0]
    assert torch.allclose(out.pred_score, expected)
    assert 'pred_sem_seg' not in out and 'cams' not in out
    assert not model.is_fitted

    metrics = model.fit_state()
    assert model.is_fitted
    # 6 images; classes 1, 2, 3 in two images each (the first image counts
    # for class 3 only), 4 and 5 in one; 4 x 4 cells of layer3 per image
    assert metrics['class_pattern/num_images'] == 6
    assert metrics['class_pattern/classes_without_images'] == 0
    state = model.fitted_state()
    assert state['num_images'].tolist() == [2, 2, 2, 1, 1]
    assert state['count'].tolist() == [32, 32, 32, 16, 16]
    assert state['meta'] == dict(
        feature_layer='backbone.layer3',
        classes=list(_ListDataset.metainfo['classes']),
        sign_rule='cam', dim=32, total_images=6)
    assert list(state) == ['mean', 'pattern', 'eigenvalue', 'explained',
                           'cam_agreement', 'count', 'num_images', 'meta']
    assert metrics['class_pattern/mean_explained_variance'] == round(
        100 * float(state['explained'].mean()), 2)
    # the same sums image by image
    ref = None
    for batch in _loader(LABELS, SELECTED, batch_size=1):
        data = model.data_preprocessor(batch, False)
        ref = model.accumulate_patterns(
            model.pattern_pass(data['inputs'], data['data_samples']), ref)
    expected = ref.patterns('cam')
    for key in ('mean', 'pattern', 'count', 'cam_agreement'):
        assert torch.allclose(state[key], expected[key], atol=1e-6), key
    # non-persistent: a classifier checkpoint loads with no missing keys
    assert not [k for k in model.state_dict() if k.startswith('class_')]
    plain = _model()
    plain.load_state_dict(model.state_dict(), strict=True)
    assert not plain.is_fitted
    plain.load_fitted_state(state)
    for key in ('mean', 'pattern'):
        assert torch.equal(getattr(plain, 'class_' + key), state[key])
    # fitted: Algorithm 1 masks of the image's classes
    data = model.data_preprocessor(
        demo_wsss_inputs(batch_size=1, image_shape=(3, 32, 32),
                         labels=[[1, 2]]), False)
    out = model.predict(data['inputs'], data['data_samples'])[0]
    assert torch.equal(
        out.pred_sem_seg.data[0],
        class_pattern_mask(out.projections, torch.tensor([1, 2])))
    # a prediction without fitted patterns fits them first (mmpretrain's
    # retrievers prepare their prototypes so), or says what is missing
    lazy = _model(pattern_dataloader=_loader(LABELS, SELECTED))
    lazy.load_state_dict(model.state_dict())
    again = lazy.predict(data['inputs'], data['data_samples'])[0]
    assert lazy.is_fitted
    assert torch.equal(again.pred_sem_seg.data, out.pred_sem_seg.data)
    with pytest.raises(RuntimeError, match='pattern_dataloader'):
        _model().predict(data['inputs'], data['data_samples'])


def test_fit_state_errors():
    with pytest.raises(ValueError, match='pattern_dataloader'):
        _model().fit_state()
    with pytest.raises(TypeError, match='pattern_dataloader'):
        _model(pattern_dataloader='train')
    with pytest.raises(ValueError, match='sign_rule'):
        _model(sign_rule='some')
    with pytest.raises(RuntimeError, match='no class patterns'):
        _model().fitted_state()

    class Wrong(_ListDataset):
        metainfo = dict(classes=('background', 'a'))

    from mmengine.dataset import pseudo_collate
    loader = torch.utils.data.DataLoader(
        Wrong([[1]]), batch_size=1, collate_fn=pseudo_collate)
    with pytest.raises(ValueError, match='2 classes'):
        _model(pattern_dataloader=loader).fit_state()


def test_segmentor_masks_follow_algorithm1(tmp_path):
    model = _model(feature_layer='backbone.layer2')
    data = model.data_preprocessor(
        demo_wsss_inputs(batch_size=2, image_shape=(3, 32, 32),
                         labels=[[1, 4], []]), False)
    d = 16  # layer2 channels
    g = torch.Generator().manual_seed(0)
    path = str(tmp_path / 'class_patterns.pth')
    torch.save(
        dict(
            mean=torch.randn(5, d, generator=g, dtype=torch.float64),
            pattern=torch.nn.functional.normalize(
                torch.randn(5, d, generator=g, dtype=torch.float64), dim=1),
            meta=dict(feature_layer='backbone.layer2')), path)
    model.test_cfg['class_patterns'] = path
    assert model.is_fitted  # read from the file, nothing to fit
    out = model.predict(data['inputs'], data['data_samples'])
    q = out[0].projections
    assert q.shape == (2, 32, 32)
    expected = class_pattern_mask(q, torch.tensor([1, 4]))
    assert torch.equal(out[0].pred_sem_seg.data[0], expected)
    # the sweep maps are the rectified, max-normalised projections
    assert out[0].cams.max() <= 1 and (out[0].cams >= 0).all()
    assert out[0].metainfo['cam_bg_rule']['output'] == 'model'
    # background-only image: all background
    assert (out[1].pred_sem_seg.data == 0).all()
    # the projections equal Eq. 3 on the layer's features, upsampled
    feats, _ = model.layer_features(data['inputs'])
    pats = torch.load(path)
    direct = class_pattern_projections(feats[0], pats['mean'][[0, 3]],
                                       pats['pattern'][[0, 3]])
    direct = torch.nn.functional.interpolate(
        direct[None], (32, 32), mode='bilinear', align_corners=False)[0]
    assert torch.allclose(q, direct, atol=1e-5)
    # patterns of another layer are refused
    model2 = _model(feature_layer='backbone.layer3', class_patterns=path)
    with pytest.raises(ValueError, match='layer2'):
        model2.predict(data['inputs'], data['data_samples'])
    with pytest.raises(FileNotFoundError, match='FitModelStateHook'):
        _model(class_patterns=str(tmp_path / 'none.pth')).predict(
            data['inputs'], data['data_samples'])


def test_segmentor_bad_layer_and_early_stop():
    with pytest.raises(ValueError, match='not a module'):
        _model(feature_layer='backbone.layer9')
    model = _model(feature_layer='backbone.layer1')
    calls = []
    model.backbone.layer4.register_forward_hook(
        lambda *a: calls.append(1))
    model.layer_features(torch.randn(1, 3, 32, 32))
    assert calls == []  # stopped at layer1
    model.layer_features(torch.randn(1, 3, 32, 32), with_cams=True)
    assert calls == [1]
    # training forwards do not keep the features
    model.train()
    model._forward(torch.randn(2, 3, 32, 32))
    assert model._captured is None


def test_leading_eigenpairs_iterative_equals_eigh():
    from mmwsss.models.utils import leading_eigenpairs
    g = torch.Generator().manual_seed(11)
    x = torch.randn(900, 300, generator=g, dtype=torch.float64)
    x[:, 0] *= 3  # a leading direction, as class features have
    x[:, 1] *= 2.5
    cov = torch.stack([x.t() @ x / 900, (x[:450].t() @ x[:450]) / 450])
    vals, vecs = torch.linalg.eigh(cov)
    top, vec = leading_eigenpairs(cov)  # d=300 > 256: block iteration
    assert torch.allclose(top, vals[:, -1], rtol=1e-10, atol=0)
    cos = (vec * vecs[..., -1]).sum(-1).abs()
    assert torch.allclose(cos, torch.ones(2, dtype=torch.float64),
                          atol=1e-9)
    # the full decomposition below the size limit gives the same
    top2, vec2 = leading_eigenpairs(cov, full_below=400)
    assert torch.allclose(top2, top, rtol=1e-10)


def test_segmentor_test_cfg_keys_and_kinds():
    """ClassPatternSegmentor's keys are CAMSegmentor's and Algorithm 1's;
    a typo or a value of the wrong kind is an error naming it."""
    with pytest.raises(ValueError) as e:
        _model(margn=0.1)
    assert str(e.value) == (
        "ClassPatternSegmentor test_cfg: unknown key 'margn' (did you mean "
        "'margin'?); the known keys are: bg, cam_sign, class_patterns, crf, "
        'crf_images, crf_sweep, crf_workers, flip, ignore_index, labels, '
        'margin, scales, score_thr')
    with pytest.raises(ValueError, match=r"unknown key 'crf_sweeps' \(did "
                       r"you mean 'crf_sweep'\?\)"):
        _model(crf_sweeps=[0.1])
    with pytest.raises(TypeError) as e:
        _model(cam_sign='Flase')
    assert str(e.value) == (
        "ClassPatternSegmentor test_cfg.cam_sign must be True or False, got "
        "'Flase' (str) (--cfg-options keeps a value that is not a Python "
        'literal as a string)')
    with pytest.raises(TypeError, match=r'test_cfg.ignore_index must be an '
                       r'int, got 255.0 \(float\)'):
        _model(ignore_index=255.0)
    with pytest.raises(TypeError, match=r'test_cfg.class_patterns must be a '
                       r'string or None, got 3 \(int\)'):
        _model(class_patterns=3)
    model = _model(margin=0, scales=[1.0], flip=False)
    assert model.test_cfg['margin'] == 0 and model.test_cfg['flip'] is False
