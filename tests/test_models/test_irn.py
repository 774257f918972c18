# Copyright (c) OpenMMLab. All rights reserved.
"""IRN's semantic refiner: paths, path-max affinities, loss, walk, model,
confident seeds with IRN's CRF."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmwsss.datasets import CAMsToConfidentMask
from mmwsss.models import (IRNBoundaryHead, IRNet, affinity_pairs,
                           nearest_label, pair_displacements, pair_path,
                           pair_path_index, pair_paths, path_max_affinity,
                           random_walk)
from mmwsss.testing import demo_wsss_inputs, tiny_cam_model_cfg

EPS = 1e-5

_PREPROCESSOR = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=32,
    seg_pad_val=255)

# the backbone of tiny_cam_model_cfg: taps of 8, 8, 16, 32, 64 channels
_TINY_R18 = dict(
    type='ResNet',
    depth=18,
    stem_channels=8,
    base_channels=8,
    strides=(1, 2, 1, 1),
    dilations=(1, 1, 2, 4),
    init_cfg=None)


def _tiny_irn(backbone=None, **test_cfg):
    return IRNet(
        backbone=backbone or dict(_TINY_R18),
        boundary_head=dict(
            type='IRNBoundaryHead',
            in_channels=(8, 8, 16, 32, 64),
            num_classes=6,
            channels=8,
            radius=3),
        data_preprocessor=_PREPROCESSOR,
        test_cfg=test_cfg)


# --------------------------------------------------------------- paths
def test_pair_paths_directions_and_lengths():
    assert len(pair_paths(5)) == 34 == len(pair_displacements(5))
    assert len(pair_paths(10)) == 152
    lengths5 = [len(p) for p in pair_paths(5)]
    lengths10 = [len(p) for p in pair_paths(10)]
    assert (min(lengths5), max(lengths5)) == (2, 11)
    assert (min(lengths10), max(lengths10)) == (2, 22)
    for (dy, dx), path in zip(pair_displacements(10), pair_paths(10)):
        assert (0, 0) in path and (dy, dx) in path
        assert len(set(path)) == len(path)


def test_pair_path_by_hand():
    # neighbours: both ends only
    assert pair_path(0, 1) == [(0, 0), (0, 1)]
    assert pair_path(0, 3) == [(0, 0), (0, 1), (0, 2), (0, 3)]
    # the diagonal step is a 2 x 2 block, not two pixels
    assert pair_path(1, 1) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert pair_path(1, -1) == [(0, -1), (0, 0), (1, -1), (1, 0)]
    # (2, 2): a band of 7; the far corners (0, 2), (2, 0) are at distance
    # sqrt(2) from the diagonal
    #   x x .
    #   x x x
    #   . x x
    assert pair_path(2, 2) == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2),
                               (2, 1), (2, 2)]
    # (3, 1): every point of the 4 x 2 box is within 1 of the line
    assert len(pair_path(3, 1)) == 8
    # (1, 2): (dy x - dx y)^2 / 5 < 1 for all six points of the box
    assert pair_path(1, 2) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1),
                               (1, 2)]
    with pytest.raises(ValueError):
        pair_path(0, 0)


def test_pair_path_index_pairs_are_affinity_pairs():
    index = pair_path_index(4, 5, 7)
    ind_from, ind_to = affinity_pairs(4, 5, 7)
    assert torch.equal(index.ind_from, ind_from)
    assert torch.equal(index.ind_to, ind_to)
    assert sum(len(g) for g in index.groups) == len(ind_from)
    # groups by length, every point inside the grid
    assert [g.shape[1] for g in index.groups] == sorted(
        {len(p) for p in pair_paths(4)})
    assert all(int(g.min()) >= 0 and int(g.max()) < 35 for g in index.groups)


def _brute_force_affinity(bound, radius):
    h, w = bound.shape
    out = []
    for (dy, dx), path in zip(pair_displacements(radius), pair_paths(radius)):
        ys = range(0, max(h - dy, 0))
        xs = range(max(0, -dx), w - max(0, dx))
        for y in ys:
            for x in xs:
                out.append(1 - max(bound[y + py, x + px] for py, px in path))
    return torch.tensor(out)


def test_path_max_affinity_on_a_vertical_boundary():
    """A 4 x 6 boundary map: a line at column 4 (0.9) and a blob at (1, 1)
    (0.6), zero elsewhere.

        0   0   0   0  .9   0
        0  .6   0   0  .9   0
        0   0   0   0  .9   0
        0   0   0   0  .9   0
    """
    bound = torch.zeros(4, 6)
    bound[:, 4] = 0.9
    bound[1, 1] = 0.6
    index = pair_path_index(3, 4, 6)
    aff = path_max_affinity(bound[None], index)[0]
    pairs = {(int(f), int(t)): float(a)
             for f, t, a in zip(index.ind_from, index.ind_to, aff)}

    def a(p, q):
        return pairs[(p[0] * 6 + p[1], q[0] * 6 + q[1])]

    # across the line, or onto it: 1 - 0.9
    assert a((0, 3), (0, 5)) == pytest.approx(0.1)
    assert a((2, 3), (3, 5)) == pytest.approx(0.1)
    assert a((1, 5), (2, 4)) == pytest.approx(0.1)
    # on one side, away from the blob: 1
    assert a((2, 0), (2, 2)) == pytest.approx(1.0)
    assert a((0, 2), (2, 3)) == pytest.approx(1.0)
    # the band of (1, 2) from (0, 0) holds (1, 1): 1 - 0.6, though the
    # segment only grazes it
    assert a((0, 0), (1, 2)) == pytest.approx(0.4)
    # (2, -2) from (0, 2): the 7-point band holds (1, 1)
    assert a((0, 2), (2, 0)) == pytest.approx(0.4)
    # straight row 0 misses the blob
    assert a((0, 0), (0, 2)) == pytest.approx(1.0)
    # every pair: the definition, written out
    assert torch.allclose(aff, _brute_force_affinity(bound, 3))
    # differentiable: the gradient of a_ij goes to its maximum
    b = bound.clone().requires_grad_(True)
    path_max_affinity(b[None], index)[0][0].backward()  # pair (0,0)-(0,1)
    assert b.grad[0, 0] + b.grad[0, 1] == -1


def test_padding_with_one_equals_dropping_out_of_grid_pairs():
    """IRN pads B with 1 (left r, right r, bottom r) and walks on the padded
    grid; on the image the walk is the in-grid one."""
    torch.manual_seed(0)
    h, w, r = 5, 6, 3
    bound = torch.rand(h, w).double() * 0.5
    scores = torch.rand(2, h, w).double()
    index = pair_path_index(r, h, w)
    aff = path_max_affinity(bound[None], index)[0]
    ours = random_walk(scores, index.ind_from, index.ind_to, aff, beta=10,
                       num_iters=16)
    padded = torch.nn.functional.pad(bound, (r, r, 0, r), value=1.0)
    pidx = pair_path_index(r, h + r, w + 2 * r)
    paff = path_max_affinity(padded[None], pidx)[0]
    pscores = torch.nn.functional.pad(scores, (r, r, 0, r))
    walked = random_walk(pscores, pidx.ind_from, pidx.ind_to, paff,
                         beta=10, num_iters=16)[:, :h, r:r + w]
    assert torch.allclose(walked, ours, atol=1e-12)
    # the padded pairs that touch the padding all have affinity 0
    inside = torch.zeros(h + r, w + 2 * r, dtype=torch.bool)
    inside[:h, r:r + w] = True
    inside = inside.flatten()
    touching = ~(inside[pidx.ind_from] & inside[pidx.ind_to])
    assert touching.any() and (paff[touching] == 0).all()


# ---------------------------------------------------------------- walk
def test_sparse_walk_equals_dense_power_with_irn_settings():
    """x T^t with A = a^10 (symmetric) + I, T = A / colsum(A)."""
    torch.manual_seed(0)
    h, w = 3, 4
    n = h * w
    ind_from, ind_to = affinity_pairs(3, h, w)
    aff = torch.rand(len(ind_from)).double() * 0.5 + 0.5
    x = torch.rand(2, n).double()
    a = torch.zeros(n, n, dtype=torch.float64)
    for i, j, v in zip(ind_from.tolist(), ind_to.tolist(), aff.tolist()):
        a[i, j] = a[j, i] = v**10
    a += torch.eye(n, dtype=torch.float64)
    trans = a / a.sum(dim=0, keepdim=True)
    for t in (1, 5, 256):
        dense = x @ torch.linalg.matrix_power(trans, t)
        sparse = random_walk(x, ind_from, ind_to, aff, beta=10, num_iters=t)
        assert torch.allclose(sparse, dense, atol=1e-10), t


# ---------------------------------------------------------------- loss
def test_nearest_label_takes_the_centre_pixel():
    label = torch.arange(4).repeat_interleave(4).reshape(1, 1, 16)
    label = label.expand(1, 4, 16).clone()
    label[:, :, 0::4] = 9  # the first pixel of each block differs
    small = nearest_label(label, (1, 4))
    assert small.tolist() == [[[0, 1, 2, 3]]]


def _head_with_constant_boundary(b, radius=2, num_classes=2):
    head = IRNBoundaryHead(
        in_channels=(4, ) * 5,
        num_classes=num_classes,
        channels=4,
        num_groups=2,
        radius=radius)
    torch.nn.init.zeros_(head.fuse.weight)
    torch.nn.init.constant_(head.fuse.bias, math.log(b / (1 - b)))
    return head


def _label_sample(small):
    """A full-size label whose 4 x 4 blocks have the value of ``small``
    at their centre (their first pixel is 3, never read)."""
    full = torch.tensor(small).repeat_interleave(4, 0).repeat_interleave(
        4, 1)
    full[0::4, 0::4] = 3
    ds = SegDataSample()
    ds.gt_sem_seg = PixelData(data=full[None])
    return ds


def test_irn_loss_by_hand():
    """B = 0.2 everywhere, so every pair has a = 0.8. Stride-4 labels

        0   0   1      radius 2: displacements (0,1) (1,-1) (1,0) (1,1),
        1   1  255     11 pairs: bg 1, fg 2, negative 5, with 255: 3

    L+ = (-log(0.8) * 1/(1+eps) - log(0.8) * 2/(2+eps)) / 2 = 0.22314
    L- = -log(1 + eps - 0.8) * 5/(5+eps)                     = 1.60939
    L  = (L+ + L-) / 2                                       = 0.91627
    """
    head = _head_with_constant_boundary(0.2)
    feats = [torch.randn(1, 4, 2, 3) for _ in range(5)]
    losses = head.loss(feats, [_label_sample([[0, 0, 1], [1, 1, 255]])])
    assert [losses[k].item() for k in ('pairs_bg', 'pairs_fg', 'pairs_neg')
            ] == [1, 2, 5]
    l_pos = (-math.log(0.8 + EPS) / (1 + EPS) -
             2 * math.log(0.8 + EPS) / (2 + EPS)) / 2
    l_neg = -5 * math.log(1 + EPS - 0.8) / (5 + EPS)
    assert losses['loss_aff'].item() == pytest.approx(
        (l_pos + l_neg) / 2, rel=1e-5)
    assert losses['loss_aff'].item() == pytest.approx(0.91627, abs=1e-4)


def test_irn_loss_without_foreground_pairs_and_out_of_range_labels():
    head = _head_with_constant_boundary(0.2, num_classes=2)
    feats = [torch.randn(1, 4, 2, 3) for _ in range(5)]
    # label 7 >= num_classes is ignored like 255; no fg pair at all
    losses = head.loss(feats, [_label_sample([[0, 0, 7], [0, 1, 255]])])
    assert losses['pairs_fg'].item() == 0
    # bg pairs: (0,0)-(0,1), (0,0)-(1,0), (0,1)-(1,0), (0,0)-(1,1)? no:
    # (1,1) is class 1 -> negatives (0,0)-(1,1), (0,1)-(1,1), (1,0)-(1,1)
    assert losses['pairs_bg'].item() == 3
    assert losses['pairs_neg'].item() == 3
    expected = (-math.log(0.8 + EPS) * 3 / (3 + EPS) / 2 -
                math.log(0.2 + EPS) * 3 / (3 + EPS)) / 2
    assert torch.isfinite(losses['loss_aff'])
    assert losses['loss_aff'].item() == pytest.approx(expected, rel=1e-5)


# --------------------------------------------------------------- model
def test_irnet_loss_trains_only_the_head_on_a_frozen_backbone():
    torch.manual_seed(0)
    model = _tiny_irn()
    model.train()
    assert not model.backbone.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    stats = model.backbone.bn1.running_mean.clone()
    data = demo_wsss_inputs(batch_size=2, image_shape=(3, 32, 32))
    batch = model.data_preprocessor(data, True)
    losses = model(**batch, mode='loss')
    assert torch.isfinite(losses['loss_aff'])
    losses['loss_aff'].backward()
    assert model.boundary_head.fuse.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.backbone.parameters())
    assert torch.equal(model.backbone.bn1.running_mean, stats)
    # five taps at strides 4, 4, 8, 8, 8 (output stride 8); logits at 4
    taps = model.extract_feat(batch['inputs'])
    assert [t.shape[-1] for t in taps] == [8, 8, 4, 4, 4]
    assert model._forward(batch['inputs']).shape == (2, 1, 8, 8)


def _sample(cams, labels, shape):
    ds = SegDataSample(metainfo=dict(
        img_path='x.jpg', ori_shape=shape, img_shape=shape))
    ds.set_data(dict(cams=torch.tensor(cams), cam_labels=torch.tensor(
        labels)))
    return ds


def test_irnet_boundary_map_flip_and_dynamic_padding():
    torch.manual_seed(0)
    model = _tiny_irn().eval()
    image = torch.randn(3, 37, 45)
    bound = model.boundary_map(image)
    assert bound.shape == (10, 12)  # ceil(H / 4), ceil(W / 4)
    pad = torch.nn.functional.pad
    z = model._forward(pad(image, (0, 3, 0, 11))[None])[0, 0, :10, :12]
    zf = model._forward(pad(image.flip(-1), (0, 3, 0, 11))[None])[0, 0,
                                                                   :10, :12]
    assert torch.allclose(bound, torch.sigmoid((z + zf.flip(-1)) / 2),
                          atol=1e-6)
    # an image taller than IRN's fixed 512 is not cropped
    assert model.boundary_map(torch.randn(3, 530, 8)).shape == (133, 2)


def test_irnet_predict_stops_at_a_boundary(monkeypatch):
    """Class 3 on the left quarter, a boundary line at stride-4 column 4:
    the walk fills the left of the line, never the right."""
    model = _tiny_irn(num_iters=256)
    model.eval()
    line = torch.zeros(8, 8)
    line[:, 4] = 1.0
    monkeypatch.setattr(model, 'boundary_map', lambda image: line)
    cams = np.zeros((2, 32, 32), np.float32)
    cams[0, :, :8] = 0.8
    cams[1, :, :8] = 0.4  # a weaker class: one global maximum, not its own
    out = model.predict(torch.randn(1, 3, 32, 32),
                        [_sample(cams, [3, 5], (32, 32))])[0]
    walked = out.cams
    assert walked.shape == (2, 32, 32)
    assert walked.max().item() == pytest.approx(1.0)
    # the propagated class 5 stays at half of class 3
    assert torch.allclose(walked[1, :, :12], walked[0, :, :12] / 2,
                          atol=1e-6)
    # right of the line: nothing arrives
    assert (walked[:, :, 20:] == 0).all()
    # left of it, the walk spread the class over the whole region
    assert walked[0, :, :12].min() > 0.9
    pred = out.pred_sem_seg.data[0]
    assert (pred[:, :12] == 3).all() and (pred[:, 20:] == 0).all()
    assert out.metainfo['cam_bg_rule'] == dict(type='threshold', thr=0.25)


def test_irnet_predict_real_forward_and_errors():
    torch.manual_seed(0)
    model = _tiny_irn(num_iters=3).eval()
    h, w = 30, 26
    cams = np.full((1, h, w), 0.9, np.float32)
    samples = [_sample(cams, [2], (h, w)),
               _sample(np.zeros((0, h, w), np.float32), [], (h, w))]
    out = model.predict(torch.randn(2, 3, 32, 32), samples)
    assert out[0].cams.shape == (1, h, w)
    assert (out[0].pred_sem_seg.data == 2).all()
    assert (out[1].pred_sem_seg.data == 0).all()
    with pytest.raises(KeyError, match='LoadCAMs'):
        model.predict(torch.randn(1, 3, 32, 32), [SegDataSample()])
    with pytest.raises(ValueError, match='unknown key'):
        _tiny_irn(alpha=3)
    with pytest.raises(TypeError, match='flip'):
        _tiny_irn(flip=1)
    with pytest.raises(ValueError, match='threshold rule'):
        _tiny_irn(bg=dict(type='power', alpha=2))
    with pytest.raises(ValueError, match='train_cfg'):
        IRNet(backbone=_TINY_R18,
              boundary_head=dict(type='IRNBoundaryHead',
                                 in_channels=(8, 8, 16, 32, 64),
                                 num_classes=6),
              train_cfg=dict(radius=10))


def test_irnet_backbone_from_a_cam_checkpoint(tmp_path):
    """mmengine's Pretrained init with prefix 'backbone.' takes the
    backbone of a CAMSegmentor checkpoint."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    cam = MODELS.build(tiny_cam_model_cfg(5))
    path = str(tmp_path / 'cam_iter_600.pth')
    torch.save(dict(meta={}, state_dict=cam.state_dict()), path)
    model = _tiny_irn(backbone=dict(
        _TINY_R18,
        init_cfg=dict(type='Pretrained', checkpoint=path,
                      prefix='backbone.')))
    model.init_weights()
    ours = model.backbone.state_dict()
    theirs = cam.backbone.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_irnet_refuses_a_wrong_backbone_checkpoint():
    """tools/test.py's StrictLoadHook names the file."""
    from mmengine.config import Config

    from mmwsss.engine import StrictLoadHook
    model = _tiny_irn()
    runner = SimpleNamespace(
        model=model, _load_from='/w/irn_r34.pth',
        cfg=Config(dict(load_from='/w/irn_r34.pth')))
    StrictLoadHook().after_load_checkpoint(
        runner, dict(state_dict=model.state_dict()))
    other = _tiny_irn(backbone=dict(_TINY_R18, depth=34)).state_dict()
    with pytest.raises(RuntimeError,
                       match=r'the checkpoint /w/irn_r34.pth does not fit '
                       r'the model IRNet: \d+ key\(s\) in it are not in the '
                       r'model \(backbone.layer1.2'):
        StrictLoadHook().after_load_checkpoint(runner,
                                               dict(state_dict=other))


# --------------------------------------------------------------- seeds
def test_confident_mask_with_irn_crf_snaps_to_the_image():
    """A black left half, a white right half; class 2's CAM spills two
    columns over the edge. IRN's CRF moves both levels back to the edge;
    a weak region (0.05 <= CAM < 0.3) becomes uncertain."""
    h, w = 16, 20
    img = np.zeros((h, w, 3), np.uint8)
    img[:, 10:] = 255
    cams = np.zeros((1, h, w), np.float32)
    cams[0, :, :12] = 0.8
    plain = CAMsToConfidentMask()(
        dict(img=img, cams=cams.copy(), cam_labels=np.array([2])))
    assert (plain['gt_seg_map'][:, :12] == 2).all()
    assert (plain['gt_seg_map'][:, 12:] == 0).all()
    out = CAMsToConfidentMask(crf='irn')(
        dict(img=img, cams=cams.copy(), cam_labels=np.array([2])))
    mask = out['gt_seg_map']
    assert mask.dtype == np.uint8
    assert (mask[:, :10] == 2).all() and (mask[:, 10:] == 0).all()
    # a weak CAM (0.2) on the black half: foreground for the 0.05 level
    # only -> uncertain (255); the white half stays background
    weak = np.zeros((1, h, w), np.float32)
    weak[0, :, :10] = 0.2
    mask = CAMsToConfidentMask(crf='irn')(
        dict(img=img, cams=weak, cam_labels=np.array([4])))['gt_seg_map']
    assert (mask[:, :10] == 255).all() and (mask[:, 10:] == 0).all()
    # the image must be at the CAMs' size
    with pytest.raises(ValueError, match="CAMs' size"):
        CAMsToConfidentMask(crf='irn')(
            dict(img=img[:8], cams=cams, cam_labels=np.array([2])))



def test_confident_mask_crf_cache(tmp_path, monkeypatch):
    """With cache_dir the CRF'd seeds are computed once per CAM file and
    read back (the CRF is not called again); new CAMs (another size or
    modification time) or other thresholds compute them anew."""
    import os
    h, w = 16, 20
    img = np.zeros((h, w, 3), np.uint8)
    img[:, 10:] = 255
    cams = np.zeros((1, h, w), np.float32)
    cams[0, :, :12] = 0.8
    cam_file = tmp_path / 'a.npz'
    np.savez(cam_file, cams=cams, labels=np.array([2]))

    def results():
        return dict(img=img, cams=cams.copy(), cam_labels=np.array([2]),
                    cam_path=str(cam_file))

    cache = tmp_path / 'seeds'
    t = CAMsToConfidentMask(crf='irn', cache_dir=str(cache))
    expected = CAMsToConfidentMask(crf='irn')(results())['gt_seg_map']
    first = t(results())['gt_seg_map']
    np.testing.assert_array_equal(first, expected)
    assert len(os.listdir(cache)) == 1
    # the second time the mask comes from the cache: no CRF is solved
    monkeypatch.setattr(t.crf, 'refine_labels',
                        lambda *a, **k: pytest.fail('CRF solved again'))
    second = t(results())['gt_seg_map']
    np.testing.assert_array_equal(second, expected)
    assert second.dtype == np.uint8
    # other thresholds: another cache entry (computed, so the patched CRF
    # refuses)
    other = CAMsToConfidentMask(fg_thr=0.5, crf='irn', cache_dir=str(cache))
    monkeypatch.setattr(other.crf, 'refine_labels',
                        lambda *a, **k: pytest.fail('expected'))
    with pytest.raises(pytest.fail.Exception, match='expected'):
        other(results())
    # new CAMs in the same file: the entry of the old ones is not read
    os.utime(cam_file, ns=(1, 1))
    with pytest.raises(pytest.fail.Exception, match='CRF solved again'):
        t(results())


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize('loader', ['train_dataloader', 'test_dataloader'])
def test_irn_loaders_name_a_missing_saved_cam(tmp_path, loader):
    """The real IRN config's loaders over a CAM folder that lacks one
    image's maps (an unfinished pseudo-mask stage) stop at the build and
    name the folder and the missing file."""
    import os.path as osp

    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from mmwsss.datasets import generate_synthetic_wsss
    from mmwsss.testing import REPO_ROOT
    init_default_scope('mmseg')
    root = generate_synthetic_wsss(
        str(tmp_path / 'data'), num_train=4, num_val=1, image_size=32)
    with open(osp.join(root, 'ImageSets', 'Segmentation',
                       'train.txt')) as f:
        ids = f.read().split()
    cams = tmp_path / 'cams'
    cams.mkdir()
    for name in ids[:2] + ids[3:]:  # the third image's maps are missing
        (cams / f'{name}.npz').write_bytes(b'')
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'irn',
                 'irn_r18w32-d8_1xb16-600_synthetic-96x96.py'))
    dl = cfg[loader]
    dl.update(num_workers=0, persistent_workers=False)
    dl.dataset.update(data_root=root, generate=None)
    dl.dataset.data_prefix.cam_path = str(cams)
    with pytest.raises(FileNotFoundError) as e:
        Runner.build_dataloader(dl)
    msg = str(e.value)
    assert f'data_prefix.cam_path {cams} lacks the cam files of 1 of 4 ' \
           'images' in msg
    assert f"['{ids[2]}.npz']" in msg
    # with the file in place the loader builds
    (cams / f'{ids[2]}.npz').write_bytes(b'')
    assert len(Runner.build_dataloader(dl).dataset) == 4
