# Copyright (c) OpenMMLab. All rights reserved.
"""AffinityNet: pair labels, loss, label reduction and the refiner."""
import math

import numpy as np
import pytest
import torch
from mmseg.structures import SegDataSample

from mmwsss.datasets import CAMsToConfidentMask
from mmwsss.models import (AffinityLoss, AffinityNet, affinity_pair_labels,
                           downsample_label)
from mmwsss.testing import demo_wsss_inputs


def test_affinity_pair_labels_by_hand():
    frm = torch.tensor([0, 0, 1, 255, 2, 3])
    to = torch.tensor([0, 1, 1, 1, 2, 255])
    bg, fg, neg = affinity_pair_labels(frm, to, ignore_index=255)
    assert bg.tolist() == [1, 0, 0, 0, 0, 0]
    assert fg.tolist() == [0, 0, 1, 0, 1, 0]
    assert neg.tolist() == [0, 1, 0, 0, 0, 0]


def test_affinity_loss_by_hand():
    aff = torch.tensor([0.5, 0.25, 0.8, 0.9, 1.0, 0.3])
    bg, fg, neg = affinity_pair_labels(
        torch.tensor([0, 0, 1, 255, 2, 3]), torch.tensor([0, 1, 1, 1, 2,
                                                          255]))
    eps = 1e-5
    l_bg = -math.log(0.5 + eps) / (1 + eps)
    l_fg = -(math.log(0.8 + eps) + math.log(1.0 + eps)) / (2 + eps)
    l_neg = -math.log(1 + eps - 0.25) / (1 + eps)
    out = AffinityLoss(loss_weight=2.0)(aff, bg, fg, neg)
    assert math.isclose(out['aff_bg'].item(), l_bg, rel_tol=1e-5)
    assert math.isclose(out['aff_fg'].item(), l_fg, rel_tol=1e-5)
    assert math.isclose(out['aff_neg'].item(), l_neg, rel_tol=1e-5)
    assert math.isclose(out['loss_aff'].item(),
                        2.0 * (l_bg / 4 + l_fg / 4 + l_neg / 2),
                        rel_tol=1e-5)
    # 0.693 / 4 + 0.112 / 4 + 0.288 / 2 = 0.345 before the weight
    assert math.isclose(l_bg / 4 + l_fg / 4 + l_neg / 2, 0.3450, abs_tol=1e-3)


def test_downsample_label_majority_and_purity():
    label = torch.tensor([[1, 1, 2, 2],
                          [1, 1, 2, 255],
                          [0, 255, 0, 3],
                          [3, 255, 4, 5]])[None]
    small = downsample_label(label, (2, 2), num_classes=6)
    # TL all 1; TR 3/4 class 2; BL majority is "uncertain"; BR purity 1/2
    # for class 0? no: 0, 3, 4, 5 -> 1/4 each -> uncertain
    assert small.tolist() == [[[1, 2], [255, 255]]]
    small = downsample_label(label, (2, 2), num_classes=6, min_purity=0.25)
    assert small[0, 1, 1].item() == 0  # ties go to the lowest class
    # labels outside [0, num_classes) count as uncertain
    small = downsample_label(label, (2, 2), num_classes=2)
    assert small.tolist() == [[[1, 255], [255, 255]]]


def test_cams_to_confident_mask_by_hand():
    cams = np.array([[[0.9, 0.2, 0.01, 0.4]], [[0.1, 0.25, 0.02, 0.6]]],
                    np.float32)
    out = CAMsToConfidentMask(fg_thr=0.3, bg_thr=0.05)(
        dict(cams=cams, cam_labels=np.array([2, 5])))
    # peaks 0.9 (class 2), 0.25 (uncertain), 0.02 (bg), 0.6 (class 5)
    assert out['gt_seg_map'].tolist() == [[2, 255, 0, 5]]
    assert 'gt_seg_map' in out['seg_fields'] and 'cams' not in out
    empty = CAMsToConfidentMask()(
        dict(cams=np.zeros((0, 2, 3), np.float32), cam_labels=np.zeros(0)))
    assert empty['gt_seg_map'].tolist() == [[0, 0, 0], [0, 0, 0]]
    with pytest.raises(ValueError, match='bg_thr <= fg_thr'):
        CAMsToConfidentMask(fg_thr=0.1, bg_thr=0.2)


def _tiny_affinity_net(**test_cfg):
    return AffinityNet(
        backbone=dict(
            type='ResNet',
            depth=18,
            num_stages=4,
            stem_channels=8,
            base_channels=8,
            out_indices=(1, 2, 3),
            strides=(1, 2, 1, 1),
            dilations=(1, 1, 2, 4),
            init_cfg=None),
        aff_head=dict(
            type='AffinityHead',
            in_channels=(16, 32, 64),
            num_classes=6,
            channels=(8, 8, 16)),
        data_preprocessor=dict(
            type='SegDataPreProcessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
            size_divisor=32,
            seg_pad_val=255),
        test_cfg=test_cfg)


def test_affinity_head_loss_pairs_by_hand():
    """A 2 x 3 grid, radius 2: 11 pairs, counted by hand.

    labels   0   0   1      displacements (0,1) (1,-1) (1,0) (1,1):
             1   1  255     bg 1, fg 2, negative 5, with 255: 3
    """
    from mmengine.structures import PixelData

    from mmwsss.models import AffinityHead
    torch.manual_seed(0)
    head = AffinityHead(
        in_channels=(4, 4, 4), num_classes=2, channels=(2, 2, 2), radius=2)
    feats = [torch.randn(1, 4, 2, 3) for _ in range(3)]
    ds = SegDataSample()
    ds.gt_sem_seg = PixelData(data=torch.tensor([[[0, 0, 1], [1, 1, 255]]]))
    losses = head.loss(feats, [ds])
    assert [losses[k].item() for k in ('pairs_bg', 'pairs_fg', 'pairs_neg')
            ] == [1, 2, 5]
    # the loss is AffinityLoss of exactly those pairs' affinities
    aff, frm, to, _ = head.affinities(feats, 2)
    lab = ds.gt_sem_seg.data.flatten()
    expected = AffinityLoss()(aff[0], *affinity_pair_labels(lab[frm], lab[to]))
    assert torch.allclose(losses['loss_aff'], expected['loss_aff'])


def test_affinity_net_loss_backward():
    torch.manual_seed(0)
    model = _tiny_affinity_net()
    data = demo_wsss_inputs(batch_size=2, image_shape=(3, 32, 32))
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')
    assert torch.isfinite(losses['loss_aff'])
    losses['loss_aff'].backward()
    assert model.aff_head.fuse.weight.grad.abs().sum() > 0


def _sample(cams, labels, shape):
    ds = SegDataSample(metainfo=dict(
        img_path='x.jpg', ori_shape=shape, img_shape=shape))
    ds.set_data(dict(cams=torch.tensor(cams), cam_labels=torch.tensor(
        labels)))
    return ds


def test_affinity_net_predict():
    torch.manual_seed(0)
    model = _tiny_affinity_net(num_iters=3).eval()
    h, w = 40, 36  # padded to 64 x 64 by the preprocessor? no: test pads
    inputs = torch.randn(2, 3, 64, 64)
    cams = np.zeros((2, h, w), np.float32)
    cams[0] = 0.9  # class 3 everywhere, clearly above the background
    cams[1, :, :] = 0.1
    samples = [_sample(cams, [3, 5], (h, w)), _sample(
        np.zeros((0, h, w), np.float32), [], (h, w))]
    out = model.predict(inputs, samples)
    # a scene of class 3 stays class 3; a background-only image stays 0
    assert (out[0].pred_sem_seg.data == 3).all()
    assert (out[1].pred_sem_seg.data == 0).all()
    assert out[0].cams.shape == (2, h, w)
    assert out[0].bg_score.shape == (1, h, w)
    assert math.isclose(out[0].cams.max().item(), 1.0, rel_tol=1e-5)
    assert out[0].metainfo['cam_bg_rule']['output'] == 'propagated'
    # the IRN output rule: a threshold on the propagated class maps
    model = _tiny_affinity_net(
        num_iters=3, output_bg=dict(type='threshold', thr=0.25)).eval()
    out = model.predict(inputs[:1], [_sample(cams, [3, 5], (h, w))])
    assert 'bg_score' not in out[0]
    assert (out[0].pred_sem_seg.data == 3).all()
    with pytest.raises(KeyError, match='LoadCAMs'):
        model.predict(inputs[:1], [SegDataSample()])
    with pytest.raises(ValueError, match='num_iters'):
        _tiny_affinity_net(num_iters=-1)


def test_affinity_net_predict_on_a_resized_image():
    """The image may be resized for a finer grid; CAMs and output follow."""
    torch.manual_seed(0)
    # no walk: what is checked is the resizing around it
    model = _tiny_affinity_net(num_iters=0).eval()
    cams = np.zeros((1, 20, 18), np.float32)
    cams[0, :, 9:] = 0.9  # class 2 on the right half only
    ds = _sample(cams, [2], (20, 18))
    ds.set_metainfo(dict(img_shape=(40, 36)))
    out = model.predict(torch.randn(1, 3, 64, 64), [ds])[0]
    assert out.cams.shape == (1, 20, 18) and out.bg_score.shape == (1, 20, 18)
    pred = out.pred_sem_seg.data[0]
    assert pred.shape == (20, 18)
    # the far left stays background, the far right stays class 2
    assert (pred[:, :3] == 0).all() and (pred[:, -3:] == 2).all()
    wrong = _sample(np.zeros((1, 10, 10), np.float32), [2], (20, 18))
    with pytest.raises(ValueError, match='are \\(10, 10\\) but the image'):
        model.predict(torch.randn(1, 3, 64, 64), [wrong])


def test_affinity_net_dense_crf_of_the_propagated_masks(tmp_path):
    """test_cfg.crf refines PSA's argmax mask (the propagated background
    and maps as the unary), as an independent DenseCRF run does."""
    from PIL import Image

    from mmwsss.models import DenseCRF, cams_to_probs
    torch.manual_seed(0)
    h, w = 20, 18
    img = np.zeros((h, w, 3), np.uint8)
    img[:, 9:] = 255
    path = str(tmp_path / 'img.png')
    Image.fromarray(img).save(path)
    cams = np.zeros((1, h, w), np.float32)
    cams[0, :, 9:] = 0.9
    cams[0, :, 8] = 0.5
    model = _tiny_affinity_net(num_iters=2, crf='psa', crf_sweep=[0.25])
    model.eval()
    ds = _sample(cams, [2], (h, w))
    ds.set_metainfo(dict(img_path=path))
    out = model.predict(torch.randn(1, 3, 32, 32), [ds])[0]
    rule = out.metainfo['cam_bg_rule']
    probs = cams_to_probs(out.cams, rule, out.bg_score).numpy()
    expected = np.array([0, 2])[DenseCRF('psa')(img, probs).argmax(0)]
    assert np.array_equal(out.pred_sem_seg.data[0].numpy(), expected)
    sweep = cams_to_probs(out.cams, dict(type='threshold', thr=0.25))
    expected = np.array([0, 2])[DenseCRF('psa')(img, sweep.numpy()).argmax(0)]
    assert np.array_equal(out.crf_sweep_preds[0].numpy(), expected)


def test_affinity_net_test_cfg_keys_and_kinds():
    """A typo (``num_iter=``) or a value of the wrong kind is an error
    naming it, not a silently ignored setting."""
    with pytest.raises(ValueError) as e:
        _tiny_affinity_net(num_iter=8)
    assert str(e.value) == (
        "AffinityNet test_cfg: unknown key 'num_iter' (did you mean "
        "'num_iters'?); the known keys are: beta, bg, crf, crf_images, "
        'crf_sweep, crf_workers, num_iters, output_bg, radius, sweep_bg')
    with pytest.raises(TypeError) as e:
        _tiny_affinity_net(num_iters=8.5)
    assert str(e.value) == ('AffinityNet test_cfg.num_iters must be an int, '
                            'got 8.5 (float)')
    with pytest.raises(TypeError, match=r"test_cfg.beta must be a number, "
                       r"got '8' \(str\)"):
        _tiny_affinity_net(beta='8')
    with pytest.raises(ValueError, match=r"AffinityNet test_cfg.sweep_bg: "
                       r"unknown key 'alpah' \(did you mean 'alpha'\?\)"):
        _tiny_affinity_net(sweep_bg=dict(type='power', alpah=4))
    with pytest.raises(ValueError, match=r"test_cfg.crf_sweep' \(did you "):
        _tiny_affinity_net(**{'test_cfg.crf_sweep': [0.1]})
    _tiny_affinity_net(num_iters=8, beta=8, crf_sweep=[0.1])
