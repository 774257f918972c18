# Copyright (c) OpenMMLab. All rights reserved.
"""DeepLab-v2 ASPP and DeepLab-v1 LargeFOV decode heads: values by hand."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS

from mmwsss.models import DeepLabLargeFOVHead, DeepLabV2Head
from mmwsss.testing import demo_wsss_inputs, get_config

# num_classes=2 makes BaseDecodeHead suggest out_channels=1; not relevant.
pytestmark = pytest.mark.filterwarnings('ignore:For binary segmentation')


def _naive_dilated_conv(x, w, b, d):
    """3x3 convolution with dilation ``d`` and zero padding ``d``, by loops.

    ``x``: (H, W) list of lists, ``w``: 3x3 list of lists, ``b``: float.
    """
    h, wd = len(x), len(x[0])
    out = [[b] * wd for _ in range(h)]
    for i in range(h):
        for j in range(wd):
            for a in range(3):
                for c in range(3):
                    ii, jj = i + d * (a - 1), j + d * (c - 1)
                    if 0 <= ii < h and 0 <= jj < wd:
                        out[i][j] += w[a][c] * x[ii][jj]
    return out


def _ramp_7x7():
    return torch.arange(49, dtype=torch.float32).view(1, 1, 7, 7)


def _hand_set_v2_head():
    """1 input channel, 2 classes, dilations (1, 2), known weights.

    Returns the head and, per branch, its ``(weight, bias)``.
    """
    head = DeepLabV2Head(in_channels=1, num_classes=2, dilations=(1, 2))
    w1 = torch.zeros(2, 1, 3, 3)
    w1[0] = 1.0  # class 0, rate 1: 3x3 box sum
    w1[1, 0, 1, 1] = 1.0  # class 1, rate 1: identity
    w2 = torch.zeros(2, 1, 3, 3)
    w2[0, 0, 0, 0] = 1.0  # class 0, rate 2: reads x[i - 2, j - 2]
    w2[1] = 2.0  # class 1, rate 2: 2 * dilated box sum
    params = [(w1, torch.tensor([0.5, -1.0])), (w2, torch.tensor([0.25, 0.0]))]
    with torch.no_grad():
        for conv, (w, b) in zip(head.aspp, params):
            conv.weight.copy_(w)
            conv.bias.copy_(b)
    return head.eval(), params


# ----------------------------------------------------------------------------
# DeepLabV2Head
# ----------------------------------------------------------------------------


def test_v2_structure_and_no_conv_seg():
    head = DeepLabV2Head(in_channels=4, num_classes=3)
    assert head.dilations == (6, 12, 18, 24)
    assert len(head.aspp) == 4
    for conv, d in zip(head.aspp, (6, 12, 18, 24)):
        assert conv.kernel_size == (3, 3)
        assert conv.dilation == (d, d) and conv.padding == (d, d)
        assert conv.in_channels == 4 and conv.out_channels == 3
        assert conv.bias is not None
    # the branches are the classifier: no conv_seg, no default dropout
    assert not hasattr(head, 'conv_seg')
    assert head.dropout is None
    assert all(k.startswith('aspp.') for k in head.state_dict())
    assert len(head.state_dict()) == 8


def test_v2_hand_computed_values():
    head, [(w1, b1), (w2, b2)] = _hand_set_v2_head()
    x = _ramp_7x7()
    y = head([x])
    # the output keeps the input's spatial size and has num_classes (not
    # num_classes * len(dilations)) channels
    assert y.shape == (1, 2, 7, 7)
    # pinned by hand: x[i, j] = 7 i + j
    # centre (3, 3): class 0 = 9 * 24 + 0.5 + x[1, 1] + 0.25
    #                class 1 = 24 - 1 + 2 * 9 * 24
    assert y[0, 0, 3, 3].item() == pytest.approx(224.75)
    assert y[0, 1, 3, 3].item() == pytest.approx(455.0)
    # corner (0, 0): zero padding; class 0 = (0 + 1 + 7 + 8) + 0.5 + 0.25,
    # class 1 = 0 - 1 + 2 * (0 + 2 + 14 + 16)
    assert y[0, 0, 0, 0].item() == pytest.approx(16.75)
    assert y[0, 1, 0, 0].item() == pytest.approx(63.0)
    # every pixel against loop-computed dilated convolutions, summed
    xl = x[0, 0].tolist()
    for k in range(2):
        r1 = _naive_dilated_conv(xl, w1[k, 0].tolist(), b1[k].item(), 1)
        r2 = _naive_dilated_conv(xl, w2[k, 0].tolist(), b2[k].item(), 2)
        expected = torch.tensor(r1) + torch.tensor(r2)
        assert torch.allclose(y[0, k], expected)
    # and against F.conv2d with padding = dilation
    ref = (
        F.conv2d(x, w1, b1, padding=1, dilation=1) +
        F.conv2d(x, w2, b2, padding=2, dilation=2))
    assert torch.allclose(y, ref)


def test_v2_output_is_sum_of_branches_not_concat():
    head, _ = _hand_set_v2_head()
    x = _ramp_7x7()
    y = head(x)  # a bare tensor is the feature itself
    branches = [conv(x) for conv in head.aspp]
    assert torch.allclose(y, branches[0] + branches[1])
    assert not torch.allclose(y, branches[0])
    # switching one branch off leaves exactly the other one
    with torch.no_grad():
        head.aspp[1].weight.zero_()
        head.aspp[1].bias.zero_()
    assert torch.allclose(head(x), branches[0])


def test_v2_linear_in_input_plus_summed_biases():
    """y(x) - y(0) is linear in x; y(0) is the sum of the branch biases."""
    torch.manual_seed(0)
    head = DeepLabV2Head(in_channels=3, num_classes=4, dilations=(1, 2, 3))
    with torch.no_grad():
        for conv in head.aspp:
            conv.bias.normal_()
    head.eval()
    x1, x2 = torch.randn(2, 1, 3, 9, 9).unbind(0)
    y0 = head(torch.zeros_like(x1))
    bias_sum = sum(conv.bias for conv in head.aspp)
    assert torch.allclose(y0, bias_sum.view(1, 4, 1, 1).expand_as(y0))
    assert torch.allclose(
        head(x1 + 2 * x2) - y0, (head(x1) - y0) + 2 * (head(x2) - y0),
        atol=1e-5)


def test_v2_init_normal_std_001_zero_bias():
    head = DeepLabV2Head(in_channels=256, num_classes=21)
    with torch.no_grad():
        for conv in head.aspp:
            conv.weight.fill_(1.0)
            conv.bias.fill_(1.0)
    head.init_weights()
    for conv in head.aspp:
        w = conv.weight.detach()
        assert w.numel() == 21 * 256 * 9
        assert w.std().item() == pytest.approx(0.01, rel=0.05)
        assert abs(w.mean().item()) < 1e-3
        assert torch.equal(conv.bias.detach(), torch.zeros(21))


def test_v2_rejects_conv_seg_init_and_channels():
    with pytest.raises(ValueError, match='no conv_seg'):
        DeepLabV2Head(
            in_channels=4,
            num_classes=3,
            init_cfg=dict(
                type='Normal', std=0.01, override=dict(name='conv_seg')))
    with pytest.raises(TypeError, match='channels'):
        DeepLabV2Head(in_channels=4, num_classes=3, channels=8)
    with pytest.raises(ValueError, match='dilation'):
        DeepLabV2Head(in_channels=4, num_classes=3, dilations=())


def test_v2_optional_dropout_before_aspp():
    head = DeepLabV2Head(in_channels=8, num_classes=3, dropout_ratio=0.5)
    assert isinstance(head.dropout, nn.Dropout2d)
    x = torch.randn(2, 8, 5, 5)
    head.eval()
    assert torch.equal(head(x), head(x))
    head.train()
    torch.manual_seed(0)
    assert not torch.allclose(head(x), head(x))


def test_v2_built_by_registry_and_selects_in_index():
    head = MODELS.build(
        dict(type='DeepLabV2Head', in_channels=2, num_classes=3, in_index=0))
    assert isinstance(head, DeepLabV2Head)
    a, b = torch.randn(1, 2, 4, 4), torch.randn(1, 5, 2, 2)
    assert torch.equal(head([a, b]), head(a))


# ----------------------------------------------------------------------------
# DeepLabLargeFOVHead
# ----------------------------------------------------------------------------


def test_largefov_structure():
    head = DeepLabLargeFOVHead(in_channels=16, num_classes=3)
    assert head.channels == 1024
    fc6 = head.fc6.conv
    assert fc6.kernel_size == (3, 3)
    assert fc6.dilation == (12, 12) and fc6.padding == (12, 12)
    assert fc6.in_channels == 16 and fc6.out_channels == 1024
    assert fc6.bias is not None and head.fc6.norm_cfg is None
    fc7 = head.fc7.conv
    assert fc7.kernel_size == (1, 1) and fc7.out_channels == 1024
    assert head.conv_seg.in_channels == 1024
    assert head.conv_seg.out_channels == 3
    assert isinstance(head.drop6, nn.Dropout) and head.drop6.p == 0.5
    assert isinstance(head.dropout, nn.Dropout) and head.dropout.p == 0.5


def _hand_set_largefov_head():
    """1 -> 1 -> 1 -> 3 channels: y = (h7, 1 - h7, 2),
    h7 = relu(3 h6 + 0.5), h6 = relu(2 x - 1)."""
    head = DeepLabLargeFOVHead(in_channels=1, num_classes=3, channels=1)
    with torch.no_grad():
        # off-centre taps are 12 pixels away: on a small input they only
        # ever read the zero padding, whatever their weight
        head.fc6.conv.weight.fill_(100.0)
        head.fc6.conv.weight[0, 0, 1, 1] = 2.0
        head.fc6.conv.bias.fill_(-1.0)
        head.fc7.conv.weight.fill_(3.0)
        head.fc7.conv.bias.fill_(0.5)
        head.conv_seg.weight.copy_(
            torch.tensor([1.0, -1.0, 0.0]).view(3, 1, 1, 1))
        head.conv_seg.bias.copy_(torch.tensor([0.0, 1.0, 2.0]))
    return head


def test_largefov_hand_computed_values():
    head = _hand_set_largefov_head().eval()
    x = torch.tensor([[-1.0, 0.0, 0.5], [1.0, 2.0, 3.0]]).view(1, 1, 2, 3)
    y = head([x])
    assert y.shape == (1, 3, 2, 3)
    # h6 = (0, 0, 0, 1, 3, 5); h7 = (.5, .5, .5, 3.5, 9.5, 15.5)
    h7 = torch.tensor([[0.5, 0.5, 0.5], [3.5, 9.5, 15.5]])
    assert torch.allclose(y[0, 0], h7)
    assert torch.allclose(y[0, 1], 1 - h7)
    assert torch.allclose(y[0, 2], torch.full((2, 3), 2.0))


def test_largefov_dilation_12_keeps_size_and_reaches_12_pixels():
    head = DeepLabLargeFOVHead(in_channels=1, num_classes=3, channels=1)
    with torch.no_grad():
        head.fc6.conv.weight.zero_()
        head.fc6.conv.weight[0, 0, 0, 0] = 1.0  # reads x[i - 12, j - 12]
        head.fc6.conv.bias.zero_()
        head.fc7.conv.weight.fill_(1.0)
        head.fc7.conv.bias.zero_()
        head.conv_seg.weight.fill_(1.0)
        head.conv_seg.bias.zero_()
    head.eval()
    x = torch.zeros(1, 1, 25, 25)
    x[0, 0, 12, 12] = 7.0
    y = head(x)
    assert y.shape == (1, 3, 25, 25)
    expected = torch.zeros(25, 25)
    expected[24, 24] = 7.0  # the impulse moved by (12, 12)
    for k in range(3):
        assert torch.equal(y[0, k], expected)


def test_largefov_dropout_only_in_training():
    torch.manual_seed(0)
    head = DeepLabLargeFOVHead(in_channels=4, num_classes=3, channels=16)
    x = torch.randn(2, 4, 6, 6)
    head.eval()
    assert torch.equal(head(x), head(x))
    head.train()
    assert not torch.allclose(head(x), head(x))
    # no dropout at all with dropout_ratio=0
    head0 = DeepLabLargeFOVHead(
        in_channels=4, num_classes=3, channels=16, dropout_ratio=0)
    assert head0.drop6 is None and head0.dropout is None
    head0.train()
    assert torch.equal(head0(x), head0(x))


def test_largefov_init_conv_seg_normal_001():
    head = DeepLabLargeFOVHead(in_channels=8, num_classes=21, channels=512)
    with torch.no_grad():
        head.conv_seg.bias.fill_(1.0)
    head.init_weights()
    w = head.conv_seg.weight.detach()
    assert w.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.equal(head.conv_seg.bias.detach(), torch.zeros(21))


# ----------------------------------------------------------------------------
# Both heads inside mmseg's EncoderDecoder
# ----------------------------------------------------------------------------

_HEADS = {
    'deeplabv2': dict(type='DeepLabV2Head', in_channels=64, dilations=(1, 2)),
    'largefov': dict(type='DeepLabLargeFOVHead', in_channels=64, channels=16),
}


def _build_in_mmseg_scope(cfg):
    # EncoderDecoder builds its data preprocessor through mmengine's
    # registry, which finds SegDataPreProcessor only in the mmseg scope;
    # EncoderDecoder reads test_cfg.mode, so the config must be a ConfigDict
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(ConfigDict(cfg))


def _tiny_encoder_decoder(head, num_classes=3):
    head = dict(copy.deepcopy(_HEADS[head]), num_classes=num_classes)
    return _build_in_mmseg_scope(
        dict(
            type='EncoderDecoder',
            data_preprocessor=dict(
                type='SegDataPreProcessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True,
                pad_val=0,
                seg_pad_val=255,
                size=(32, 32)),
            backbone=dict(
                type='ResNet',
                depth=18,
                stem_channels=8,
                base_channels=8,
                out_indices=(3, ),
                strides=(1, 2, 1, 1),
                dilations=(1, 1, 2, 4)),
            decode_head=head,
            train_cfg=dict(),
            test_cfg=dict(mode='whole')))


@pytest.mark.parametrize('head', sorted(_HEADS))
def test_encoder_decoder_loss_matches_cross_entropy(head):
    torch.manual_seed(0)
    model = _tiny_encoder_decoder(head)
    model.init_weights()
    data = model.data_preprocessor(
        demo_wsss_inputs(2, (3, 32, 32), num_classes=3), training=True)
    model.train()
    torch.manual_seed(1)
    losses = model(**data, mode='loss')
    assert set(losses) == {'decode.loss_ce', 'decode.acc_seg'}
    loss = losses['decode.loss_ce']
    assert torch.isfinite(loss)
    loss.backward()
    head_grads = [p.grad for p in model.decode_head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in head_grads)
    # the same number by hand: the head's stride-8 logits upsampled
    # bilinearly to the label size, then mean pixel cross-entropy
    # (same dropout masks: same seed, the backbone draws no random numbers)
    torch.manual_seed(1)
    with torch.no_grad():
        logits = model.decode_head(model.extract_feat(data['inputs']))
    assert logits.shape == (2, 3, 4, 4)
    gt = torch.stack([ds.gt_sem_seg.data[0] for ds in data['data_samples']])
    up = F.interpolate(
        logits, size=(32, 32), mode='bilinear', align_corners=False)
    expected = F.cross_entropy(up, gt, reduction='none').mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize('head', sorted(_HEADS))
def test_encoder_decoder_predict(head):
    torch.manual_seed(0)
    model = _tiny_encoder_decoder(head)
    model.init_weights()
    model.eval()
    data = model.data_preprocessor(
        demo_wsss_inputs(2, (3, 32, 32), num_classes=3), training=False)
    with torch.no_grad():
        out = model(**data, mode='predict')
        logits = model.decode_head(model.extract_feat(data['inputs']))
    up = F.interpolate(
        logits, size=(32, 32), mode='bilinear', align_corners=False)
    assert len(out) == 2
    for i, ds in enumerate(out):
        assert ds.seg_logits.data.shape == (3, 32, 32)
        assert ds.pred_sem_seg.data.shape == (1, 32, 32)
        assert torch.allclose(ds.seg_logits.data, up[i], atol=1e-6)
        assert torch.equal(ds.pred_sem_seg.data[0], up[i].argmax(0))


# ----------------------------------------------------------------------------
# Base configs
# ----------------------------------------------------------------------------


@pytest.mark.parametrize('path,head_type', [
    ('_base_/models/deeplabv2_r101-d8.py', DeepLabV2Head),
    ('_base_/models/deeplab-largefov_r101-d8.py', DeepLabLargeFOVHead),
])
def test_base_model_configs_build(path, head_type):
    cfg = get_config(path)
    # no init_cfg in the base (random init): dataset configs merge theirs
    assert cfg.model.backbone.get('init_cfg') is None
    with torch.device('meta'):  # the modules, without weights
        model = _build_in_mmseg_scope(cfg.model)
    assert type(model.decode_head) is head_type
    assert model.decode_head.num_classes == 21
    assert model.decode_head.in_channels == 2048
    assert model.backbone.depth == 101 and model.backbone.norm_eval
    assert model.data_preprocessor.size_divisor is None
    assert model.test_cfg.mode == 'whole'
    if head_type is DeepLabV2Head:
        assert model.decode_head.dilations == (6, 12, 18, 24)
        assert model.decode_head.dropout is None
    else:
        assert model.decode_head.fc6.conv.dilation == (12, 12)
        assert model.decode_head.channels == 1024
    # output stride 8: stages 3 and 4 dilated (2, 4), not strided; with
    # contract_dilation their first blocks use half the rate
    bb = model.backbone
    assert bb.layer2[0].conv2.stride == (2, 2)
    for layer, d in ((bb.layer3, 2), (bb.layer4, 4)):
        assert layer[0].conv2.stride == (1, 1)
        assert layer[0].conv2.dilation == (d // 2, d // 2)
        assert layer[1].conv2.dilation == (d, d)
    assert all(not m.weight.requires_grad for m in bb.modules()
               if isinstance(m, nn.BatchNorm2d))
