# Copyright (c) OpenMMLab. All rights reserved.
"""ResNet-38d backbone and PSA converter: values against a PSA reference.

The PSA-named state dict is generated here from the layout of jiwoon-ahn/psa
``network/resnet38d.py`` (written out independently of the module under
test), filled with random values, converted and loaded; the backbone's
levels are then compared with a functional re-implementation of PSA's
``forward_as_dict``.
"""
import importlib.util
import os.path as osp
import sys
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS

from mmwsss.models import ResNet38d, convert_psa_resnet38d

SCRIPT = osp.join(
    osp.dirname(__file__), '..', '..', 'tools', 'model_converters',
    'psa2mmwsss.py')

# PSA blocks: (name, kind, in, mid, out, stride, first dilation, dilation).
PSA_BLOCKS = [
    ('b2', 'basic', 64, 128, 128, 2, 1, 1),
    ('b2_1', 'basic', 128, 128, 128, 1, 1, 1),
    ('b2_2', 'basic', 128, 128, 128, 1, 1, 1),
    ('b3', 'basic', 128, 256, 256, 2, 1, 1),
    ('b3_1', 'basic', 256, 256, 256, 1, 1, 1),
    ('b3_2', 'basic', 256, 256, 256, 1, 1, 1),
    ('b4', 'basic', 256, 512, 512, 2, 1, 1),
] + [(f'b4_{j}', 'basic', 512, 512, 512, 1, 1, 1) for j in range(1, 6)] + [
    ('b5', 'basic', 512, 512, 1024, 1, 1, 2),
    ('b5_1', 'basic', 1024, 512, 1024, 1, 2, 2),
    ('b5_2', 'basic', 1024, 512, 1024, 1, 2, 2),
    ('b6', 'bot', 1024, None, 2048, 1, 4, 4),
    ('b7', 'bot', 2048, None, 4096, 1, 4, 4),
]
BN_STATS = ('weight', 'bias', 'running_mean', 'running_var')
LEVEL_CHANNELS = (64, 128, 256, 512, 1024, 4096)
LEVEL_STRIDES = (1, 2, 4, 8, 8, 8)


def psa_shapes():
    """PSA key -> shape, as a PSA model saved after MXNet conversion has
    them (no ``num_batches_tracked``)."""
    shapes = OrderedDict()

    def bn(name, c):
        for p in BN_STATS:
            shapes[f'{name}.{p}'] = (c, )

    shapes['conv1a.weight'] = (64, 3, 3, 3)
    for name, kind, cin, mid, cout, stride, _, _ in PSA_BLOCKS:
        bn(f'{name}.bn_branch2a', cin)
        if kind == 'basic':
            shapes[f'{name}.conv_branch2a.weight'] = (mid, cin, 3, 3)
            bn(f'{name}.bn_branch2b1', mid)
            shapes[f'{name}.conv_branch2b1.weight'] = (cout, mid, 3, 3)
        else:
            q, h = cout // 4, cout // 2
            shapes[f'{name}.conv_branch2a.weight'] = (q, cin, 1, 1)
            bn(f'{name}.bn_branch2b1', q)
            shapes[f'{name}.conv_branch2b1.weight'] = (h, q, 3, 3)
            bn(f'{name}.bn_branch2b2', h)
            shapes[f'{name}.conv_branch2b2.weight'] = (cout, h, 1, 1)
        if cin != cout or stride != 1:
            shapes[f'{name}.conv_branch1.weight'] = (cout, cin, 1, 1)
    bn('bn7', 4096)
    return shapes


def random_psa_state_dict(seed=0):
    """Random PSA-named weights that keep activations of order one."""
    g = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    for key, shape in psa_shapes().items():
        if key.endswith('running_var') or (len(shape) == 1
                                           and key.endswith('weight')):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        elif len(shape) == 1:
            sd[key] = torch.randn(shape, generator=g) * 0.1
        else:
            fan_in = shape[1] * shape[2] * shape[3]
            sd[key] = torch.randn(shape, generator=g) / fan_in**0.5
    return sd


def psa_forward_as_dict(sd, x):
    """PSA ``Net.forward_as_dict`` in eval mode, written with ``F`` ops.

    Also records the BN-ReLU'd input of ``b2``, ``b3`` and ``b4``.
    """

    def bn_relu(name, t):
        return F.relu(
            F.batch_norm(t, sd[f'{name}.running_mean'],
                         sd[f'{name}.running_var'], sd[f'{name}.weight'],
                         sd[f'{name}.bias'], False, 0.0, 1e-5))

    feats = {}
    x = F.conv2d(x, sd['conv1a.weight'], padding=1)
    for name, kind, cin, _, cout, stride, d1, d2 in PSA_BLOCKS:
        a = bn_relu(f'{name}.bn_branch2a', x)
        feats[f'{name}_in'] = a
        if cin != cout or stride != 1:
            short = F.conv2d(
                a, sd[f'{name}.conv_branch1.weight'], stride=stride)
        else:
            short = x
        if kind == 'basic':
            y = F.conv2d(
                a,
                sd[f'{name}.conv_branch2a.weight'],
                stride=stride,
                padding=d1,
                dilation=d1)
            y = bn_relu(f'{name}.bn_branch2b1', y)
            y = F.conv2d(
                y,
                sd[f'{name}.conv_branch2b1.weight'],
                padding=d2,
                dilation=d2)
        else:
            y = F.conv2d(a, sd[f'{name}.conv_branch2a.weight'], stride=stride)
            y = bn_relu(f'{name}.bn_branch2b1', y)
            y = F.conv2d(
                y,
                sd[f'{name}.conv_branch2b1.weight'],
                padding=d2,
                dilation=d2)
            y = bn_relu(f'{name}.bn_branch2b2', y)
            y = F.conv2d(y, sd[f'{name}.conv_branch2b2.weight'])
        x = short + y
    feats['conv4'] = feats['b5_in']
    feats['conv5'] = feats['b6_in']
    feats['conv6'] = bn_relu('bn7', x)
    return feats


def close(actual, expected, rtol=1e-4):
    torch.testing.assert_close(
        actual, expected, rtol=rtol, atol=rtol * expected.abs().max().item())


def load_cli():
    name = 'psa2mmwsss_under_test'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope='module')
def psa_sd():
    return random_psa_state_dict()


@pytest.fixture(scope='module')
def model(psa_sd):
    """All six levels, PSA weights loaded strictly, eval mode."""
    torch.manual_seed(0)
    net = ResNet38d(out_indices=(0, 1, 2, 3, 4, 5))
    net.load_state_dict(convert_psa_resnet38d(psa_sd), strict=True)
    return net.eval()


# ------------------------------------------------------------ construction


def test_registered_and_parameter_count(model):
    assert MODELS.get('ResNet38d') is ResNet38d
    n_psa = sum(
        torch.Size(s).numel() for k, s in psa_shapes().items()
        if not k.endswith(('running_mean', 'running_var')))
    n_model = sum(p.numel() for p in model.parameters())
    assert n_model == n_psa == 105_070_912
    assert ResNet38d.level_channels == LEVEL_CHANNELS
    assert ResNet38d.level_strides == LEVEL_STRIDES


@pytest.mark.parametrize('kwargs', [
    dict(out_indices=(6, )),
    dict(out_indices=(-1, )),
    dict(out_indices=()),
    dict(out_indices=(5, 3)),
    dict(frozen_stages=6),
    dict(dropout=(0.3, )),
    dict(dropout=(0.3, 1.0)),
])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ResNet38d(**kwargs)


def test_output_shapes_and_strides(model):
    x = torch.randn(2, 3, 33, 24)
    with torch.no_grad():
        outs = model(x)
    assert len(outs) == 6
    for out, c, s in zip(outs, LEVEL_CHANNELS, LEVEL_STRIDES):
        assert out.shape == (2, c, -(-33 // s), -(-24 // s))
        assert out.min() >= 0  # every level is rectified
    assert outs[3].shape[2:] == (5, 3)  # output stride 8

    old = model.out_indices
    try:
        model.out_indices = (3, 5)
        with torch.no_grad():
            sub = model(x)
    finally:
        model.out_indices = old
    assert [t.shape[1] for t in sub] == [512, 4096]
    assert torch.equal(sub[0], outs[3]) and torch.equal(sub[1], outs[5])


# ------------------------------------------------------------------ values


def test_levels_match_psa_forward_as_dict(model, psa_sd):
    x = torch.randn(1, 3, 32, 40, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outs = model(x)
        ref = psa_forward_as_dict(psa_sd, x)
    for level, key in enumerate(
        ['b2_in', 'b3_in', 'b4_in', 'conv4', 'conv5', 'conv6']):
        assert outs[level].shape == ref[key].shape, key
        close(outs[level], ref[key])
    # The comparison is not vacuous: features are non-trivial.
    assert ref['conv6'].abs().mean() > 0.05
    assert (ref['conv6'] == 0).float().mean() > 0.1  # ReLU did something


def test_level3_is_bn_relu_of_stage3_output(model):
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = model.stage3(model.stage2(model.stage1(model.stem(x))))
        bn = model.stage4[0].norm1
        manual = F.relu((y - bn.running_mean[:, None, None]) /
                        torch.sqrt(bn.running_var[:, None, None] + bn.eps) *
                        bn.weight[:, None, None] + bn.bias[:, None, None])
        z = model.stage5(model.stage4(y))
        fn = model.final_norm
        manual5 = F.relu((z - fn.running_mean[:, None, None]) /
                         torch.sqrt(fn.running_var[:, None, None] + fn.eps) *
                         fn.weight[:, None, None] + fn.bias[:, None, None])
        outs = model(x)
    close(outs[3], manual)
    close(outs[5], manual5)
    # Pre-activation: the stage output itself is not rectified.
    assert y.min() < 0


# --------------------------------------------------------------- converter


def test_converter_round_trip(model, psa_sd):
    converted, dropped = convert_psa_resnet38d(psa_sd, return_dropped=True)
    assert dropped == []
    assert list(converted) == list(model.state_dict())
    pairs = {
        'conv1a.weight': model.stem.weight,
        'b2.conv_branch1.weight': model.stage1[0].downsample.weight,
        'b2.bn_branch2a.weight': model.stage1[0].norm1.weight,
        'b3_2.bn_branch2b1.running_var': model.stage2[2].norm2.running_var,
        'b4_3.conv_branch2b1.weight': model.stage3[3].conv2.weight,
        'b5.conv_branch2a.weight': model.stage4[0].conv1.weight,
        'b5_2.conv_branch2b1.weight': model.stage4[2].conv2.weight,
        'b6.bn_branch2b2.running_mean': model.stage5[0].norm3.running_mean,
        'b6.conv_branch2b2.weight': model.stage5[0].conv3.weight,
        'b7.conv_branch1.weight': model.stage5[1].downsample.weight,
        'bn7.weight': model.final_norm.weight,
        'bn7.running_var': model.final_norm.running_var,
    }
    for psa_key, tensor in pairs.items():
        assert torch.equal(psa_sd[psa_key], tensor), psa_key
    # Dilation and stride of the loaded layout.
    assert model.stage4[0].conv1.dilation == (1, 1)
    assert model.stage4[0].conv2.dilation == (2, 2)
    assert model.stage5[1].conv2.dilation == (4, 4)
    assert model.stage3[0].conv1.stride == (2, 2)
    assert model.stage4[0].downsample.stride == (1, 1)
    # Missing BN counters are filled with 0.
    assert converted['stage1.0.norm1.num_batches_tracked'].item() == 0


def test_converter_strips_module_and_drops_head(psa_sd):
    wrapped = OrderedDict(('module.' + k, v) for k, v in psa_sd.items())
    wrapped['module.fc8.weight'] = torch.zeros(20, 4096, 1, 1)
    wrapped['module.f9.weight'] = torch.zeros(192, 195, 1, 1)
    converted, dropped = convert_psa_resnet38d(wrapped, return_dropped=True)
    assert dropped == ['fc8.weight', 'f9.weight']
    plain = convert_psa_resnet38d(psa_sd)
    assert list(converted) == list(plain)
    assert converted['stage3.3.conv2.weight'] is \
        psa_sd['b4_3.conv_branch2b1.weight']


def test_converter_rejects_other_dicts(psa_sd):
    partial = OrderedDict(psa_sd)
    del partial['b4_3.conv_branch2b1.weight']
    del partial['bn7.running_var']
    with pytest.raises(
            KeyError,
            match=r"2 backbone keys are missing: "
            r"'b4_3.conv_branch2b1.weight', 'bn7.running_var'"):
        convert_psa_resnet38d(partial)
    with pytest.raises(KeyError, match='conv1a.weight'):
        convert_psa_resnet38d({'conv1.weight': torch.zeros(1)})
    already = convert_psa_resnet38d(psa_sd)
    with pytest.raises(KeyError, match='already converted'):
        convert_psa_resnet38d(already)
    wrong = OrderedDict(psa_sd)
    wrong['b3.conv_branch2a.weight'] = torch.zeros(256, 128, 1, 1)
    with pytest.raises(ValueError, match='b3.conv_branch2a.weight'):
        convert_psa_resnet38d(wrong)


def test_cli_output_loads_into_backbone(tmp_path, psa_sd):
    src, dst = tmp_path / 'seam.pth', tmp_path / 'out' / 'r38d.pth'
    # Half precision halves the file I/O (420 MB in float32); loading casts
    # the values to the float32 parameters.
    half = OrderedDict((k, v.half()) for k, v in psa_sd.items())
    bare = OrderedDict(('module.' + k, v) for k, v in half.items())
    bare['module.fc8.weight'] = torch.ones(20, 4096, 1, 1)
    torch.save(bare, src)
    del bare
    load_cli().main([str(src), str(dst)])
    assert sorted(p.name for p in dst.parent.iterdir()) == ['r38d.pth']

    backbone = ResNet38d()
    with torch.no_grad():
        for p in backbone.parameters():
            p.zero_()
    # strict=True: any missing or unexpected key raises.
    ckpt = load_checkpoint(backbone, str(dst), strict=True)
    assert ckpt['meta']['dropped_keys'] == ['fc8.weight']
    assert ckpt['meta']['architecture'] == 'ResNet38d'
    assert torch.equal(backbone.stage3[3].conv2.weight,
                       half['b4_3.conv_branch2b1.weight'].float())
    assert torch.equal(backbone.final_norm.running_mean,
                       half['bn7.running_mean'].float())
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, ckpt['state_dict'][key].to(value)), key


def test_cli_accepts_state_dict_wrapper(tmp_path, monkeypatch, psa_sd):
    cli = load_cli()
    monkeypatch.setattr(
        cli,
        'load_from_local',
        lambda path, map_location=None: {
            'state_dict': psa_sd,
            'meta': {}
        })
    written = {}
    monkeypatch.setattr(cli, 'atomic_write_bytes',
                        lambda path, data: written.update(path=path))
    monkeypatch.setattr(cli.torch, 'save',
                        lambda obj, f: written.update(obj=obj))
    dropped = cli.convert_file('in.pth', 'out.pth')
    assert dropped == [] and written['path'] == 'out.pth'
    sd = written['obj']['state_dict']
    assert sd['stage5.1.conv3.weight'] is psa_sd['b7.conv_branch2b2.weight']


# ------------------------------------------------------------ train modes


def test_psa_training_mode_freezes_stem_stage1_and_bn():
    torch.manual_seed(0)
    net = ResNet38d(
        out_indices=(3, 5),
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        frozen_stages=1)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    net.eval()
    with torch.no_grad():
        ref3 = net(x)[0]
    net.train()
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert all(not p.requires_grad for m in bns for p in m.parameters())
    assert net.stage5[0].drop2.training and net.stage5[1].drop3.training
    assert net.stage5[0].drop2.p == 0.3 and net.stage5[1].drop2.p == 0.5
    assert not net.stem.weight.requires_grad
    assert not any(p.requires_grad for p in net.stage1.parameters())
    assert net.stage2[0].conv1.weight.requires_grad
    assert net.stage5[1].conv3.weight.requires_grad
    mean_before = net.stage2[0].norm1.running_mean.clone()
    out3, _ = net(x)
    # BN used running statistics (not batch ones) and did not update them.
    close(out3, ref3, rtol=1e-5)
    assert torch.equal(net.stage2[0].norm1.running_mean, mean_before)
    out3.sum().backward()
    assert net.stem.weight.grad is None
    assert net.stage2[0].conv1.weight.grad.abs().sum() > 0


def test_frozen_stages_without_norm_eval_keeps_frozen_bn_stats():
    torch.manual_seed(0)
    net = ResNet38d(out_indices=(2, ), frozen_stages=0)
    net.train()
    assert not net.stem.weight.requires_grad and not net.stem.training
    assert net.stage1.training and net.stage1[0].norm1.training
    assert net.stage1[0].norm1.weight.requires_grad
    before = net.stage1[0].norm1.running_mean.clone()
    with torch.no_grad():
        net(torch.randn(2, 3, 8, 8) + 3.0)
    # Stage 1 is trainable: its BN statistics moved towards the batch.
    assert not torch.equal(net.stage1[0].norm1.running_mean, before)
    net.eval()
    assert not net.stage1.training
