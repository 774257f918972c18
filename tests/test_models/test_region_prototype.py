# Copyright (c) OpenMMLab. All rights reserved.
"""RPNet: prototypes, cosine-max map, smoothing, consistency loss and head,
checked against numbers computed by hand in the tests."""
import math

import pytest
import torch
from mmseg.registry import MODELS

from mmwsss.models import (CAMSegmentor, PrototypeConsistencyLoss,
                           RegionPrototypeHead)
from mmwsss.models.utils import (RegionPrototypeModule, bernoulli_drop,
                                 confident_mask, cosine_max_map,
                                 gaussian_kernel, gaussian_smooth,
                                 masked_average_pool, max_rescale)
from mmwsss.testing import demo_wsss_inputs, run_segmentor, tiny_cam_model_cfg


def _cos(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na > 0 and nb > 0 else 0.0


def _feats(*images):
    """``(B, C, 1, W)`` from per-image lists of per-location C-vectors."""
    return torch.tensor(images, dtype=torch.float32).permute(0, 2, 1)[:, :,
                                                                      None]


def test_prototype_of_a_one_location_mask_is_that_feature():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 5, 3, 4, generator=g)
    mask = torch.zeros(2, 1, 3, 4, dtype=torch.bool)
    mask[0, 0, 1, 2] = True
    mask[1, 0, 2, 0] = True
    protos, valid = masked_average_pool(feats, mask)
    assert torch.equal(protos[0], feats[0, :, 1, 2])
    assert torch.equal(protos[1], feats[1, :, 2, 0])
    assert valid.tolist() == [True, True]
    # two locations: their mean
    mask[0, 0, 0, 0] = True
    protos, _ = masked_average_pool(feats, mask)
    assert torch.allclose(protos[0],
                          (feats[0, :, 1, 2] + feats[0, :, 0, 0]) / 2)


def test_confident_mask_threshold_and_negative_channels():
    # channel 0: 1.0, 0.3, 0.1 -> normalised the same; channel 1 is all
    # negative (max <= 0): it must not count (the code's division by its
    # max would turn -2 into a confident 4)
    feats = _feats([[1.0, -1.0], [0.3, -2.0], [0.1, -0.5]])
    assert confident_mask(feats, 0.3).flatten().tolist() == [
        True, False, False
    ]
    assert confident_mask(feats, 0.3, inclusive=True).flatten().tolist() == [
        True, True, False
    ]
    # all channels <= 0: empty mask, empty prototype (zero, invalid)
    neg = _feats([[-1.0, -1.0], [-0.3, -2.0], [0.0, -0.5]])
    mask = confident_mask(neg, 0.3)
    assert not mask.any()
    protos, valid = masked_average_pool(neg, mask)
    assert torch.equal(protos, torch.zeros(1, 2)) and not valid.any()


def test_bernoulli_drop_never_empties_a_mask():
    mask = torch.zeros(3, 1, 4, 4, dtype=torch.bool)
    mask[0, 0, 1, 1] = True  # one location
    mask[1] = True  # all 16
    g = torch.Generator().manual_seed(0)
    out = bernoulli_drop(mask, 0.99, generator=g)
    assert out[0].sum() == 1 and out[0, 0, 1, 1]  # fallback: full mask
    assert not out[2].any()  # an empty mask stays empty
    assert not (out & ~mask).any()  # never adds a location
    # about half dropped on a large mask
    big = torch.ones(1, 1, 100, 100, dtype=torch.bool)
    kept = bernoulli_drop(big, 0.5, generator=g).float().mean().item()
    assert 0.45 < kept < 0.55


# 3 x 3 features (C = 2) and two prototypes along the axes
_LOCS = [[1, 0], [1, 1], [-1, 0], [3, 4], [0, -2], [-1, -1], [2, 0], [0, 5],
         [4, 3]]
_PROTOS = [[1.0, 0.0], [0.0, 1.0]]


def _hand_cosine_max():
    return [max(_cos(f, p) for p in _PROTOS) for f in _LOCS]


def test_cosine_max_map_by_hand():
    feats = torch.tensor(_LOCS, dtype=torch.float32).t().reshape(1, 2, 3, 3)
    allowed = torch.ones(1, 2, dtype=torch.bool)
    fmap = cosine_max_map(feats, torch.tensor(_PROTOS), allowed)
    # 1, 1/sqrt 2, 0, 0.8, 0, -1/sqrt 2, 1, 1, 0.8
    expected = [1, 2**-0.5, 0, 0.8, 0, -2**-0.5, 1, 1, 0.8]
    assert torch.allclose(fmap.flatten(), torch.tensor(expected), atol=1e-6)
    assert expected == pytest.approx(_hand_cosine_max())
    # only the second prototype allowed: the y component over the norm
    fmap = cosine_max_map(feats, torch.tensor(_PROTOS),
                          torch.tensor([[False, True]]))
    assert torch.allclose(
        fmap.flatten(), torch.tensor([_cos(f, [0, 1]) for f in _LOCS]),
        atol=1e-6)
    # nothing allowed: the empty value
    fmap = cosine_max_map(feats, torch.tensor(_PROTOS),
                          torch.zeros(1, 2, dtype=torch.bool))
    assert torch.equal(fmap, torch.zeros(1, 1, 3, 3))


def test_gaussian_reweighting_by_hand():
    k = gaussian_kernel(5, 3.0)
    assert k.shape == (5, 5) and math.isclose(k.sum().item(), 1, rel_tol=1e-6)
    # ratio of neighbouring weights exp(-(1 - 0) / (2 * 9))
    assert math.isclose((k[2, 2] / k[2, 3]).item(), math.exp(1 / 18),
                        rel_tol=1e-6)
    # smoothing the 3 x 3 cosine-max map, zero padding, by explicit sums
    fmap = _hand_cosine_max()
    w = [[math.exp(-(dy * dy + dx * dx) / 18) for dx in range(-2, 3)]
         for dy in range(-2, 3)]
    total = sum(map(sum, w))
    expected = []
    for y in range(3):
        for x in range(3):
            acc = 0.0
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < 3 and 0 <= xx < 3:
                        acc += w[dy + 2][dx + 2] * fmap[yy * 3 + xx]
            expected.append(acc / total)
    out = gaussian_smooth(torch.tensor(fmap).reshape(1, 1, 3, 3), k)
    assert torch.allclose(out.flatten(), torch.tensor(expected), atol=1e-6)


def test_max_rescale_guards_non_positive_maps():
    fmap = torch.tensor([[0.5, 0.25], [-0.2, -0.1]]).reshape(2, 1, 1, 2)
    out = max_rescale(fmap, 1.3).flatten().tolist()
    assert out == pytest.approx([1.3, 0.65, -0.26, -0.13])


# images as (C=2) x (1 x 2); a negative channel never counts towards the
# mask, so each image has exactly one confident location (the first)
_IMG0 = [[1.0, -1.0], [0.1, -2.0]]  # prototype (1, -1)
_IMG1 = [[-1.0, 2.0], [-2.0, 0.2]]  # prototype (-1, 2)
_IMG2 = [[0.05, -1.0], [0.01, -2.0]]  # prototype (0.05, -1)


def _plain_module(**kwargs):
    cfg = dict(drop_prob=0.0, gaussian_size=0)
    cfg.update(kwargs)
    return RegionPrototypeModule(**cfg)


def test_prototypes_come_from_the_group_only():
    feats = _feats(_IMG0, _IMG1, _IMG2)
    protos = [_IMG0[0], _IMG1[0], _IMG2[0]]
    module = _plain_module()
    # groups {0, 1} and {2}
    fmap = module([feats], feats, torch.tensor([7, 7, 3])).flatten(1)
    for b, (img, group) in enumerate([(_IMG0, (0, 1)), (_IMG1, (0, 1)),
                                      (_IMG2, (2, ))]):
        expected = [max(_cos(f, protos[g]) for g in group) for f in img]
        assert fmap[b].tolist() == pytest.approx(expected, abs=1e-6)
    # image 0's second location is close to image 2's prototype: a leak
    # across groups would raise it from ~0.74 to ~1
    assert fmap[0, 1].item() < 0.75
    # no groups (or scope='self'): each image its own prototype only
    for out in (module([feats], feats, None),
                _plain_module(scope='self')([feats], feats,
                                            torch.tensor([0, 0, 0]))):
        for b, img in enumerate([_IMG0, _IMG1, _IMG2]):
            expected = [_cos(f, protos[b]) for f in img]
            assert out.flatten(1)[b].tolist() == pytest.approx(
                expected, abs=1e-6)


def test_empty_masks_give_zero_maps_without_nan():
    # image 0 has only non-positive features: no prototype; image 1 is in
    # its own group -> image 0 has no prototype at all: F_hat = 0
    neg = [[-1.0, -1.0], [-0.5, 0.0]]
    feats = _feats(neg, _IMG1).requires_grad_()
    module = RegionPrototypeModule(drop_prob=0.5, drop_mode='add')
    module.train()
    fmap = module([feats], feats, torch.tensor([0, 1]))
    assert torch.equal(fmap[0], torch.zeros_like(fmap[0]))
    # same group: image 0 uses image 1's prototype
    fmap = _plain_module()([feats], feats, torch.tensor([0, 0]))
    assert fmap[0].flatten().tolist() == pytest.approx(
        [_cos(f, _IMG1[0]) for f in neg], abs=1e-6)
    # a whole batch without any confident location: zeros, finite grads
    feats = -torch.rand(2, 3, 4, 4) - 0.1
    feats.requires_grad_()
    out = module([feats], feats, None)
    assert torch.equal(out, torch.zeros_like(out))
    (out * feats).sum().backward()
    assert torch.isfinite(feats.grad).all()


def test_level_options():
    g = torch.Generator().manual_seed(1)
    last = torch.rand(2, 4, 3, 3, generator=g)
    other = torch.rand(2, 6, 3, 3, generator=g)
    with pytest.raises(ValueError, match='compare_to'):
        _plain_module()([other, last], last)
    out = _plain_module(compare_to='same', mask_source='last')([other, last],
                                                               last)
    assert out.shape == (2, 1, 3, 3)
    with pytest.raises(ValueError, match='drop_mode'):
        RegionPrototypeModule(drop_mode='both')


def test_consistency_loss_cam_by_hand():
    # class 0: A = (2, 1), A' = (1, 1) -> N = (1, 0.5) vs (1, 1)
    # class 1 (absent): A = (-1, 3), A' = (3, 3), masked out
    a = torch.tensor([[2.0, 1.0], [-1.0, 3.0]]).reshape(1, 2, 1, 2)
    b = torch.tensor([[1.0, 1.0], [3.0, 3.0]]).reshape(1, 2, 1, 2)
    labels = torch.tensor([[1.0, 0.0]])
    loss = PrototypeConsistencyLoss(mode='cam', reduction='mean', eps=0.0)
    # (0^2 + 0.5^2) / (B K h w = 4) * 10
    assert loss(a, b, labels).item() == pytest.approx(0.625)
    # both classes: class 1 N = (0, 1) vs (1, 1): + 1
    assert loss(a, b, torch.ones(1, 2)).item() == pytest.approx(
        (0.25 + 1) / 4 * 10)
    # the code's eps: ReLU(a - 1e-5) / (max + 1e-5), close to the above
    loss = PrototypeConsistencyLoss(mode='cam', reduction='mean')
    assert loss(a, b, labels).item() == pytest.approx(0.625, rel=1e-4)
    with pytest.raises(ValueError, match='labels'):
        loss(a, b)


def test_consistency_loss_feature_by_hand():
    f = torch.tensor([[1.0, 2.0], [0.0, -1.0]]).reshape(2, 1, 1, 2)
    f2 = torch.tensor([[0.0, 0.0], [1.0, 1.0]]).reshape(2, 1, 1, 2)
    # per image sums: 1 + 4 = 5 and 1 + 4 = 5 -> mean 5, times 10
    loss = PrototypeConsistencyLoss()
    assert loss(f, f2).item() == pytest.approx(50.0)
    # mean over all 4 elements: 10 / 4 * 10
    loss = PrototypeConsistencyLoss(reduction='mean')
    assert loss(f, f2).item() == pytest.approx(25.0)
    with pytest.raises(ValueError, match="reduction='mean'"):
        PrototypeConsistencyLoss(mode='cam')


_CODE_LIKE = dict(
    reduce_levels='cam',
    attention_cfg=dict(
        mode='dot_product', norm_cfg=dict(type='BN'), zeros_init=True),
    prototype_cfg=dict(
        inclusive=True,
        drop_mode='add',
        mask_source='last',
        compare_to='same',
        rescale=1.3),
    loss_enhanced_cls=None,
    loss_consistency=dict(
        type='PrototypeConsistencyLoss', mode='cam', reduction='mean'))


def _head_batch(group_ids):
    data = demo_wsss_inputs(batch_size=4, num_classes=6)
    for ds, gid in zip(data['data_samples'], group_ids):
        if gid is not None:
            ds.set_metainfo(dict(group_id=gid, group_role='query'))
    g = torch.Generator().manual_seed(0)
    feats = [
        torch.rand(4, 4, 8, 8, generator=g),
        torch.rand(4, 8, 4, 4, generator=g)
    ]
    return feats, data['data_samples']


@pytest.mark.parametrize('extra', [dict(), _CODE_LIKE],
                         ids=['paper', 'code'])
def test_head_loss_with_and_without_groups(extra):
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='RegionPrototypeHead',
            in_channels=(4, 8),
            num_classes=5,
            channels=6,
            **extra))
    head.init_weights()
    head.train()
    keys = {'loss_cls', 'loss_consistency', 'acc_cls'}
    if not extra:
        keys.add('loss_cls_enh')
    # deterministic prototypes for the comparison below
    head.prototype.drop_prob = 0.0
    feats, samples = _head_batch([0, 0, 1, 1])
    grouped = head.loss(feats, samples)
    assert set(grouped) == keys
    assert all(torch.isfinite(v) for v in grouped.values())
    sum(v for k, v in grouped.items() if 'loss' in k).backward()
    # gradients reach the reduction and the classifier
    assert head.reduce.weight.grad.abs().sum() > 0
    assert head.classifier.weight.grad.abs().sum() > 0
    _, solo_samples = _head_batch([None] * 4)
    solo = head.loss(feats, solo_samples)
    # same classification loss (every image, own labels), other prototypes
    assert solo['loss_cls'].item() == pytest.approx(
        grouped['loss_cls'].item())
    assert solo['loss_consistency'].item() != pytest.approx(
        grouped['loss_consistency'].item(), rel=1e-6)
    # one group of all four: yet another value
    _, one = _head_batch([3, 3, 3, 3])
    assert head.loss(feats, one)['loss_consistency'].item() != \
        pytest.approx(grouped['loss_consistency'].item(), rel=1e-6)


def test_group_ids_from_metainfo():
    _, samples = _head_batch([5, None, 5, 9])
    assert RegionPrototypeHead.group_ids(samples).tolist() == [0, 1, 0, 2]


def test_head_options_are_checked():
    with pytest.raises(ValueError, match='levels'):
        RegionPrototypeHead(in_channels=(4, 8), num_classes=5, levels=(2, ))
    with pytest.raises(ValueError, match='reduce_levels'):
        RegionPrototypeHead(
            in_channels=(4, 8), num_classes=5, reduce_levels='some')


def _segmentor_cfg(**head):
    cfg = tiny_cam_model_cfg(num_fg_classes=5)
    cfg['backbone'] = dict(
        cfg['backbone'],
        out_indices=(1, 3),
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 1))
    cfg['cam_head'] = dict(
        type='RegionPrototypeHead',
        in_channels=(16, 64),
        num_classes=5,
        channels=16,
        **head)
    return cfg


@pytest.mark.parametrize('extra', [dict(), _CODE_LIKE],
                         ids=['paper', 'code'])
def test_cam_segmentor_with_the_head(extra, monkeypatch):
    torch.manual_seed(0)
    model = CAMSegmentor(**{
        k: v
        for k, v in _segmentor_cfg(**extra).items() if k != 'type'
    })
    data = demo_wsss_inputs(batch_size=2, image_shape=(3, 64, 64))
    for ds in data['data_samples']:
        ds.set_metainfo(dict(group_id=0))

    # inference never runs the prototype branch
    def no_prototypes(*args, **kwargs):
        raise AssertionError('prototype branch called at inference')

    losses, preds = None, None
    losses, _ = run_segmentor(model, data)
    assert 'loss_consistency' in losses
    monkeypatch.setattr(model.cam_head.prototype, 'forward', no_prototypes)
    model.eval()
    with torch.no_grad():
        preds = model.test_step(data)
    assert len(preds) == 2
    assert preds[0].pred_sem_seg.data.shape[-2:] == (64, 64)


def test_rpnet_base_config_backbone():
    """ResNeXt-50 32x4d at output stride 16 by stride (no dilation), frozen
    BN statistics with trainable affine parameters, stem to layer2 frozen;
    block 2 and block 4 outputs feed the head."""
    from mmwsss.testing import get_config
    cfg = get_config('_base_/models/rpnet_x50-s16.py')
    backbone_cfg = dict(cfg.model.backbone, init_cfg=None)
    backbone = MODELS.build(backbone_cfg)
    backbone.train()
    assert not any(m.training for m in backbone.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))
    assert backbone.layer3[0].bn1.weight.requires_grad
    assert not any(p.requires_grad for p in backbone.layer2.parameters())
    assert backbone.layer4[0].conv2.dilation == (1, 1)
    assert backbone.layer3[0].conv2.groups == 32
    with torch.no_grad():
        outs = backbone(torch.zeros(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 512, 8, 8),
                                              (1, 2048, 4, 4)]
    head = MODELS.build(cfg.model.cam_head)
    assert head.forward(list(outs)).shape == (1, 20, 4, 4)
