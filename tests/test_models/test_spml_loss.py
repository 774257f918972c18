# Copyright (c) OpenMMLab. All rights reserved.
"""SPML: spherical k-means segments, prototypes, the SegSort NCA loss, the
four relations, the memory bank and the gathering over processes, checked
against numbers computed by hand."""
import itertools
import math
import os
import os.path as osp

import pytest
import torch
from mmseg.registry import MODELS

from mmwsss.models import (PixelToSegmentContrastiveLoss, SegSortLoss,
                           cooccurrence_sets, feature_affinity_sets,
                           image_similarity_sets, labels_to_tags,
                           propagate_segment_labels, segsort_nca_loss,
                           segsort_nca_per_pixel, segsort_plus_sets,
                           semantic_annotation_sets)
from mmwsss.models.losses.segsort_loss import _nca_logsumexp
from mmwsss.models.losses.spml_loss import (_image_similarity_loss,
                                            _resize_labels)
from mmwsss.models.utils import (SegmentMemoryBank, all_gather_cat,
                                 append_coordinates, grid_cluster_labels,
                                 intersect_segments, segment_majority_label,
                                 segment_prototypes, spherical_kmeans)
from mmwsss.testing import free_port

R2 = math.sqrt(2.0)


def _image(vectors, h, w):
    """``(1, D, h, w)`` from a row-major list of ``h * w`` D-vectors."""
    t = torch.tensor(vectors, dtype=torch.float32)
    return t.t().reshape(1, -1, h, w)


def _sets(*rows, s):
    """``(N, S)`` bool from per-pixel lists of segment columns."""
    out = torch.zeros(len(rows), s, dtype=torch.bool)
    for i, cols in enumerate(rows):
        out[i, list(cols)] = True
    return out


def _softplus(x):
    return math.log1p(math.exp(x))


# --------------------------------------------------------------- k-means


def test_grid_cluster_labels():
    # rows round(linspace(0, 1, 4)) = [0, 0, 1, 1], same for the columns;
    # label = y + 2 x
    assert grid_cluster_labels(4, 4, (2, 2)).tolist() == [
        [0, 0, 2, 2], [0, 0, 2, 2], [1, 1, 3, 3], [1, 1, 3, 3]
    ]
    assert grid_cluster_labels(2, 4, (1, 2)).tolist() == [[0, 0, 1, 1]] * 2
    assert grid_cluster_labels(12, 12).max() == 35  # 6 x 6 by default


def test_append_coordinates():
    e = torch.tensor([3.0, 4.0]).reshape(1, 2, 1, 1).expand(1, 2, 1, 2)
    out = append_coordinates(e)
    # [0.6, 0.8, y=-0.5, x=-0.5 | +0.5] / sqrt(1.5)
    s = math.sqrt(1.5)
    assert torch.allclose(out[0, :, 0, 0],
                          torch.tensor([0.6, 0.8, -0.5, -0.5]) / s)
    assert torch.allclose(out[0, :, 0, 1],
                          torch.tensor([0.6, 0.8, -0.5, 0.5]) / s)


def test_kmeans_recovers_two_tight_groups_whatever_the_layout():
    """5 pixels near u = (1, 0, 0) and 3 near v = (0, 1, 0) on a 2 x 4
    image, in each of the C(8, 3) = 56 layouts (one batch); the 1 x 2 grid
    (left and right halves) starts with both groups mixed, in different
    proportions (4 pixels per half, 5 / 3 never splits evenly), and
    k-means must end with exactly the two groups."""
    g = torch.Generator().manual_seed(0)
    layouts = list(itertools.combinations(range(8), 3))
    is_v = torch.zeros(len(layouts), 8, dtype=torch.bool)
    for b, idx in enumerate(layouts):
        is_v[b, list(idx)] = True
    u = torch.tensor([1.0, 0.0, 0.0])
    v = torch.tensor([0.0, 1.0, 0.0])
    x = torch.where(is_v[..., None], v, u)
    x = x + 0.01 * torch.randn(x.shape, generator=g)
    emb = x.reshape(-1, 2, 4, 3).permute(0, 3, 1, 2)
    labels = spherical_kmeans(emb, grid=(1, 2)).reshape(-1, 8)
    for b in range(len(layouts)):
        lu = labels[b][~is_v[b]].unique()
        lv = labels[b][is_v[b]].unique()
        assert len(lu) == 1 and len(lv) == 1 and lu != lv, layouts[b]
    # more clusters than groups (2 x 2 grid): no cluster mixes the groups
    labels = spherical_kmeans(emb, grid=(2, 2)).reshape(-1, 8)
    for b in range(len(layouts)):
        for k in labels[b].unique():
            assert is_v[b][labels[b] == k].unique().numel() == 1


def test_kmeans_excludes_padding():
    # left half: u, u, u, u; right half: v, v and two padding pixels that
    # hold w = (0, 0, 1) (they must not pull the right cluster)
    u, v, w = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]
    emb = _image([u, u, v, w, u, u, v, w], 2, 4)
    valid = torch.tensor([[True, True, True, False],
                          [True, True, True, False]])[None]
    labels = spherical_kmeans(emb, valid, grid=(1, 2))
    assert labels.tolist() == [[[0, 0, 1, -1], [0, 0, 1, -1]]]
    # a grid cell entirely in the padding is an empty cluster: it never
    # takes a pixel (no NaN, no -1 for valid pixels)
    valid = torch.tensor([[True, True, False, False]] * 2)[None]
    labels = spherical_kmeans(emb, valid, grid=(1, 2))
    assert labels.tolist() == [[[0, 0, -1, -1], [0, 0, -1, -1]]]
    # an image entirely padding
    labels = spherical_kmeans(emb, torch.zeros_like(valid), grid=(1, 2))
    assert (labels == -1).all()


def test_intersect_segments_hand_drawn():
    # image 0 (2 x 4): clusters | regions, pixel (1, 3) is padding
    #   0 0 1 1     5 7 7 7
    #   0 0 1 1     5 5 7 7
    # segments (cluster, region): (0, 5) = {(0,0), (1,0), (1,1)} -> 0,
    # (0, 7) = {(0,1)} -> 1, (1, 7) = {(0,2), (0,3), (1,2)} -> 2
    # image 1: clusters 0 on row 0, 1 on row 1, region 3 everywhere
    # -> segments 3 (row 0) and 4 (row 1)
    clusters = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 1]],
                             [[0, 0, 0, 0], [1, 1, 1, 1]]])
    regions = torch.tensor([[[5, 7, 7, 7], [5, 5, 7, 7]],
                            [[3, 3, 3, 3], [3, 3, 3, 3]]])
    valid = torch.ones(2, 2, 4, dtype=torch.bool)
    valid[0, 1, 3] = False
    ids, keys = intersect_segments(clusters, regions, valid=valid)
    assert ids.tolist() == [[[0, 1, 2, 2], [0, 0, 2, -1]],
                            [[3, 3, 3, 3], [4, 4, 4, 4]]]
    assert keys.tolist() == [[0, 0, 5], [0, 0, 7], [0, 1, 7], [1, 0, 3],
                             [1, 1, 3]]
    # a negative value (k-means' -1) excludes the pixel too
    clusters[1, 0, 0] = -1
    ids, _ = intersect_segments(clusters, regions, valid=valid)
    assert ids[1].tolist() == [[-1, 3, 3, 3], [4, 4, 4, 4]]


def test_segment_prototypes_values_and_gradient():
    # one 1 x 5 image of unit 2-vectors: segment 0 = (1, 0), (0, 1);
    # segment 1 = (0.6, 0.8), (0, 1); the last pixel is padding (-1)
    raw = _image([[1, 0], [0, 1], [0.6, 0.8], [0, 1], [-1, 0]], 1, 5)
    raw.requires_grad_(True)
    ids = torch.tensor([[[0, 0, 1, 1, -1]]])
    protos = segment_prototypes(raw, ids, 2)
    # mu_0 = (1, 1) / sqrt(2); mu_1 = (0.6, 1.8) / sqrt(3.6)
    #      = (1, 3) / sqrt(10)
    assert torch.allclose(protos, torch.tensor(
        [[1 / R2, 1 / R2], [1 / math.sqrt(10), 3 / math.sqrt(10)]]))
    # d mu_0x / d sum = ((1, 0) - mu_0x mu_0) / |sum| = (0.5, -0.5) / sqrt 2,
    # then through the normalisation of each unit pixel (I - e e^T):
    # pixel (1, 0) -> (0, -1 / (2 sqrt 2)), pixel (0, 1) -> (1 / (2 sqrt 2),
    # 0); the other pixels get nothing
    protos[0, 0].backward()
    q = 1 / (2 * R2)
    expected = torch.zeros(1, 2, 1, 5)
    expected[0, :, 0, 0] = torch.tensor([0.0, -q])
    expected[0, :, 0, 1] = torch.tensor([q, 0.0])
    assert torch.allclose(raw.grad, expected, atol=1e-6)


def test_segment_majority_label():
    ids = torch.tensor([[[0, 0, 0, 1, 1, 1, 2, 2, -1]]])
    labels = torch.tensor([[[3, 3, -1, -1, -1, 2, 1, 2, 4]]])
    # seg 0: 3 (2 votes) beats unlabelled; seg 1: unlabelled (2 votes);
    # seg 2: tie 1 / 2 -> the smaller; the padding pixel's 4 is not seen;
    # seg 3 has no pixel -> -1
    assert segment_majority_label(ids, labels, 4, 5).tolist() == [3, -1, 1,
                                                                  -1]
    with pytest.raises(ValueError):
        segment_majority_label(ids, labels, 4, 3)


# ------------------------------------------------------------ NCA loss

E2 = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
MU2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])


def test_nca_loss_two_segments_by_hand():
    """kappa = 2; pixel 0 = (1, 0): C+ = {mu_0 = (1, 0)}, C- = {mu_1 =
    (0, 1)}: L = -log(e^2 / (e^2 + e^0)) = log(1 + e^-2) = 0.126928;
    pixel 1 = (0.6, 0.8): C+ = {mu_1}, C- = {mu_0}:
    L = -log(e^1.6 / (e^1.6 + e^1.2)) = log(1 + e^-0.4) = 0.513015;
    pixel 2 has no positive: left out. Mean = 0.319972."""
    pos = _sets([0], [1], [], s=2)
    neg = _sets([1], [0], [0, 1], s=2)
    per_pixel, has_pos = segsort_nca_per_pixel(E2, MU2, pos, neg, 2.0)
    l0, l1 = _softplus(-2.0), _softplus(-0.4)
    assert abs(l0 - 0.126928) < 1e-6 and abs(l1 - 0.513015) < 1e-6
    assert torch.allclose(per_pixel, torch.tensor([l0, l1, 0.0]))
    assert has_pos.tolist() == [True, True, False]
    loss = segsort_nca_loss(E2, MU2, pos, neg, 2.0)
    assert math.isclose(loss.item(), (l0 + l1) / 2, rel_tol=1e-6)
    # both segments positive, no negative: the ratio is 1, L = 0; the
    # denominator is the union of the sets (overlap counted once)
    both = _sets([0, 1], [0, 1], [0, 1], s=2)
    assert torch.allclose(segsort_nca_per_pixel(E2, MU2, both, both, 2.0)[0],
                          torch.zeros(3), atol=1e-6)
    # a weighted mean: weights 3 and 1 -> (3 l0 + l1) / 4
    loss = segsort_nca_loss(E2, MU2, pos, neg, 2.0,
                            weight=torch.tensor([3.0, 1.0, 5.0]))
    assert math.isclose(loss.item(), (3 * l0 + l1) / 4, rel_tol=1e-6)
    # the registered module: the same times its weight
    module = MODELS.build(dict(type='SegSortLoss', concentration=2.0,
                               loss_weight=0.5))
    assert type(module) is SegSortLoss
    assert module.loss_name == 'loss_segsort'
    assert math.isclose(module(E2, MU2, pos, neg).item(), (l0 + l1) / 4,
                        rel_tol=1e-6)


def test_nca_gradient_by_hand():
    """d L / d e for pixel 0 above: L = log(1 + e^{k (mu_1 - mu_0)^T e}),
    so grad = k sigma(k (mu_1 - mu_0)^T e) (mu_1 - mu_0) = 2 sigma(-2)
    (-1, 1)."""
    e = E2[:1].clone().requires_grad_(True)
    segsort_nca_loss(e, MU2, _sets([0], s=2), _sets([1], s=2), 2.0).backward()
    g = 2 / (1 + math.exp(2.0))
    assert torch.allclose(e.grad, torch.tensor([[-g, g]]))


def test_nca_fp16_large_concentration():
    """kappa cos = 100 in float16 inputs: exp(100) overflows even float32;
    the positive has cos 0, the negative cos 1: L = log(1 + e^100) = 100
    (to float32 precision)."""
    e = torch.tensor([[1.0, 0.0]], dtype=torch.float16, requires_grad=True)
    mu = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float16)
    loss = segsort_nca_loss(e, mu, _sets([0], s=2), _sets([1], s=2), 100.0)
    assert loss.dtype == torch.float32
    assert math.isclose(loss.item(), 100.0, rel_tol=1e-6)
    loss.backward()
    assert e.grad.dtype == torch.float16 and torch.isfinite(e.grad).all()
    # grad = 100 sigma(100) (mu_neg - mu_pos) = (100, -100)
    assert torch.allclose(e.grad.float(), torch.tensor([[100.0, -100.0]]))
    # the other way round: L = log(1 + e^-100), a float32 zero, no NaN
    loss = segsort_nca_loss(e, mu, _sets([1], s=2), _sets([0], s=2), 100.0)
    assert 0 <= loss.item() < 1e-30
    # autocast (bfloat16 on CPU) does not lower the precision
    with torch.autocast('cpu', dtype=torch.bfloat16):
        auto = segsort_nca_loss(E2, MU2, _sets([0], [1], [], s=2),
                                _sets([1], [0], [0, 1], s=2), 2.0)
    assert auto.dtype == torch.float32
    assert math.isclose(auto.item(),
                        (_softplus(-2.0) + _softplus(-0.4)) / 2,
                        rel_tol=1e-6)


def test_nca_shared_shift_equals_logsumexp():
    """The one-exp form (row-max shift) against log-sum-exp over the masked
    logits, values and gradients, on random sets with rows that have no
    positive, no negative, and overlapping C+ and C-."""
    g = torch.Generator().manual_seed(0)
    e = torch.nn.functional.normalize(torch.randn(40, 8, generator=g), dim=1)
    mu = torch.nn.functional.normalize(torch.randn(30, 8, generator=g),
                                       dim=1)
    pos = torch.rand(40, 30, generator=g) < 0.2
    neg = torch.rand(40, 30, generator=g) < 0.5
    pos[:5] = False  # no positive
    neg[5:10] = False  # no negative
    for kappa in (2.0, 16.0):
        a = e.clone().requires_grad_(True)
        b = e.clone().requires_grad_(True)
        fast, has_pos = segsort_nca_per_pixel(a, mu, pos, neg, kappa)
        ref = _nca_logsumexp(kappa * (b @ mu.t()), pos, neg, pos.any(1))
        assert torch.allclose(fast, ref, atol=1e-5)
        assert has_pos.sum() == 35 and (fast[:10] == 0).all()
        (fast * torch.arange(40.0)).sum().backward()
        (ref * torch.arange(40.0)).sum().backward()
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-3)
        assert a.grad.abs().sum() > 0


def test_image_similarity_blocks_equal_the_full_matrix():
    """Relation I computed image by image equals the (N, S) matrix form
    (the sets of image_similarity_sets, weights 1 / pixels of the image)."""
    g = torch.Generator().manual_seed(1)
    n, s = 60, 20
    pix_img = torch.randint(0, 3, (n, ), generator=g)
    seg_img = torch.arange(s) % 3
    pix_seg = torch.stack([
        (seg_img == int(i)).nonzero().flatten()[j % 6]
        for j, i in enumerate(pix_img)])  # an own segment in its image
    seg_reg = torch.randint(0, 3, (s, ), generator=g)
    pix_reg = seg_reg[pix_seg]
    e = torch.nn.functional.normalize(torch.randn(n, 5, generator=g), dim=1)
    mu = torch.nn.functional.normalize(torch.randn(s, 5, generator=g), dim=1)
    pos, neg = image_similarity_sets(pix_reg, pix_img, pix_seg, seg_reg,
                                     seg_img)
    count = torch.bincount(pix_img).float()
    full = segsort_nca_loss(e, mu, pos, neg, 16.0,
                            weight=1.0 / count[pix_img])
    blocks = _image_similarity_loss(e, mu, pix_reg, pix_img, pix_seg,
                                    seg_reg, seg_img, 16.0)
    assert full.item() > 0.1
    assert math.isclose(blocks.item(), full.item(), rel_tol=1e-5)


def test_nca_no_positive_gives_zero_and_finite_gradient():
    e = E2.clone().requires_grad_(True)
    none = torch.zeros(3, 2, dtype=torch.bool)
    loss = segsort_nca_loss(e, MU2, none, ~none, 16.0)
    assert loss.item() == 0.0
    loss.backward()
    assert e.grad is not None and torch.equal(e.grad, torch.zeros(3, 2))
    # no segment at all
    e = torch.zeros(0, 2, requires_grad=True)
    empty = torch.zeros(0, 0, dtype=torch.bool)
    loss = segsort_nca_loss(e, torch.zeros(0, 2), empty, empty, 16.0)
    loss.backward()
    assert loss.item() == 0.0


# ------------------------------------------------------------ relations


def test_segsort_plus_sets():
    # own segment 0; same = {0, 2}: C+ = {2}; same = {0} only: C+ = {0}
    # (fallback); own 1 not in same = {0}: C+ = {0}, own stays negative
    same = _sets([0, 2], [0], [0], [], s=3)
    diff = _sets([1], [1, 2], [1, 2], [0, 1, 2], s=3)
    pos, neg = segsort_plus_sets(same, diff, torch.tensor([0, 0, 1, -1]))
    assert pos.tolist() == _sets([2], [0], [0], [], s=3).tolist()
    assert neg.tolist() == diff.tolist()


# a batch of 3 images; tags (cat, dog, car): img 0 {cat}, img 1 {cat, dog},
# img 2 {car} (shares no tag). Classes: 0 bg, 1 cat, 2 dog, 3 car.
#   segment | image | label | region      pixel | image | segment | label
#   s0      | 0     | 1     | 4           p0    | 0     | s0      | 1
#   s1      | 0     | 0     | 5           p1    | 0     | s1      | 0
#   s2      | 1     | 1     | 9           p2    | 1     | s3      | 2
#   s3      | 1     | 2     | 9           p3    | 2     | s5      | -1
#   s4      | 2     | 3     | 1
#   s5      | 2     | -1    | 2
#   s6      | memory (image -1), label 2, tags {dog}
IMG_TAGS = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 1]])
SEG_IMG = torch.tensor([0, 0, 1, 1, 2, 2, -1])
SEG_LAB = torch.tensor([1, 0, 1, 2, 3, -1, 2])
SEG_REG = torch.tensor([4, 5, 9, 9, 1, 2])
SEG_TAGS = torch.cat([IMG_TAGS[SEG_IMG[:6]], torch.tensor([[0, 1, 0]])])
PIX_IMG = torch.tensor([0, 0, 1, 2])
PIX_SEG = torch.tensor([0, 1, 3, 5])
PIX_LAB = torch.tensor([1, 0, 2, -1])
PIX_REG = torch.tensor([4, 5, 9, 2])


def test_semantic_annotation_sets():
    pos, neg = semantic_annotation_sets(PIX_LAB, PIX_SEG, SEG_LAB)
    # p0 (cat): same {s0, s2} minus own s0; other labelled labels
    # p1 (bg): only its own segment is bg -> fallback {s1}
    # p2 (dog): same {s3, s6 (memory)} minus own s3
    # p3 unlabelled: not an anchor; s5 unlabelled: in no set
    assert pos.tolist() == _sets([2], [1], [6], [], s=7).tolist()
    assert neg.tolist() == _sets([1, 3, 4, 6], [0, 2, 3, 4, 6],
                                 [0, 1, 2, 4], [], s=7).tolist()


def test_cooccurrence_sets():
    pos, neg = cooccurrence_sets(IMG_TAGS, PIX_IMG, PIX_SEG, SEG_TAGS,
                                 SEG_IMG)
    # p0, p1 (img 0, {cat}): img 0 and img 1 share cat -> s0..s3 minus own;
    #   s4, s5 (img 2, car) and s6 (dog) are negative
    # p2 (img 1, {cat, dog}): img 0 (cat), img 1, s6 (dog) minus own s3
    # p3 (img 2, {car}, unlabelled pixel): only its own image: {s4}
    assert pos.tolist() == _sets([1, 2, 3], [0, 2, 3], [0, 1, 2, 6], [4],
                                 s=7).tolist()
    assert neg.tolist() == _sets([4, 5, 6], [4, 5, 6], [4, 5],
                                 [0, 1, 2, 3, 6], s=7).tolist()
    # an image without a tag: its own segments stay positive (paper)
    tags = torch.tensor([[0, 0, 0], [1, 0, 0]])
    pos, neg = cooccurrence_sets(tags, torch.tensor([0]), torch.tensor([0]),
                                 tags[[0, 0, 1]], torch.tensor([0, 0, 1]))
    assert pos.tolist() == [[False, True, False]]
    assert neg.tolist() == [[False, False, True]]


def test_image_similarity_sets():
    pos, neg = image_similarity_sets(PIX_REG, PIX_IMG, PIX_SEG, SEG_REG,
                                     SEG_IMG[:6])
    # p0: region 4 has only s0 -> fallback; s1 (region 5) negative
    # p2: s2 and s3 are two k-means pieces of region 9 -> C+ = {s2}
    # p3: s5 own, s4 other region; other images never take part
    assert pos.tolist() == _sets([0], [1], [2], [5], s=6).tolist()
    assert neg.tolist() == _sets([1], [0], [], [4], s=6).tolist()


def test_feature_affinity_propagation_and_sets():
    # labelled a = (1, 0) label 1, b = (0, 1) label 2; unlabelled
    # u1 = (0.8, 0.6) -> nearest a; u2 = (0.6, 0.8) -> nearest b
    protos = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8]])
    labels = torch.tensor([1, 2, -1, -1])
    assert propagate_segment_labels(protos, labels).tolist() == [1, 2, 1, 2]
    # threshold 0.9 > both cosines (0.8): no neighbour accepted
    assert propagate_segment_labels(protos, labels,
                                    threshold=0.9).tolist() == [1, 2, -1, -1]
    # within the image only: u1 is in b's image
    images = torch.tensor([0, 1, 1, 2])
    assert propagate_segment_labels(protos, labels,
                                    images).tolist() == [1, 2, 2, -1]
    # an unlabelled pixel of u1 takes label 1: C+ = {a} and the other
    # pieces labelled 1 (u1 is its own); a labelled pixel keeps its label
    expanded = propagate_segment_labels(protos, labels)
    pos, neg = feature_affinity_sets(torch.tensor([-1, 2]),
                                     torch.tensor([2, 3]), expanded)
    assert pos.tolist() == _sets([0], [1], s=4).tolist()
    assert neg.tolist() == _sets([1, 3], [0, 2], s=4).tolist()


def test_labels_to_tags_and_resize():
    labels = torch.tensor([[[0, 2, 255], [30, 2, 0]],
                           [[1, 1, 1], [1, 1, 1]]])
    assert labels_to_tags(labels, 4).tolist() == [[0, 1, 0], [1, 0, 0]]
    assert labels_to_tags(labels, 4, None).tolist() == [[1, 0, 1, 0],
                                                        [0, 1, 0, 0]]
    big = torch.arange(16).reshape(1, 1, 4, 4)
    assert _resize_labels(big, (2, 2)).tolist() == [[[0, 2], [8, 10]]]


# ---------------------------------------------------------- whole loss


def _a_only(**kwargs):
    cfg = dict(sem_ann_weight=1.0, sem_occ_weight=0.0, img_sim_weight=0.0,
               sem_ann_concentration=1.0, kmeans_grid=(1, 1),
               use_location=False)
    cfg.update(kwargs)
    return PixelToSegmentContrastiveLoss(**cfg)


# one 1 x 4 image, labels 1 1 2 2, one region, one k-means cluster
# (1 x 1 grid): segments s0 = pixels 0, 1 (label 1), s1 = pixels 2, 3.
# e = (1, 0), (0.6, 0.8), (0, 1), (-0.6, 0.8):
# mu_0 = normalize(1.6, 0.8) = (2, 1) / sqrt 5,
# mu_1 = normalize(-0.6, 1.8) = (-1, 3) / sqrt 10
TOY_E = _image([[1, 0], [0.6, 0.8], [0, 1], [-0.6, 0.8]], 1, 4)
TOY_LAB = torch.tensor([[[1, 1, 2, 2]]])
TOY_REG = torch.zeros(1, 1, 4, dtype=torch.long)
MU0 = (2 / math.sqrt(5), 1 / math.sqrt(5))
MU1 = (-1 / math.sqrt(10), 3 / math.sqrt(10))


def _cos(e, mu):
    return e[0] * mu[0] + e[1] * mu[1]


def test_spml_semantic_annotation_by_hand_and_memory():
    """Each pixel's only same-label segment is its own (fallback):
    L_i = log(1 + exp(cos(e_i, mu_other) - cos(e_i, mu_own))) (kappa 1).
    The second call also sees the first batch's segments in the memory:
    C+ = {memory copy of own}, C- = {other, memory copy of other}, so
    L_i = log(1 + 2 exp(cos_other - cos_own))."""
    loss = _a_only(memory_size=3)
    pixels = [(1, 0), (0.6, 0.8), (0, 1), (-0.6, 0.8)]
    deltas = [_cos(e, MU1) - _cos(e, MU0) for e in pixels[:2]]
    deltas += [_cos(e, MU0) - _cos(e, MU1) for e in pixels[2:]]
    first = sum(_softplus(d) for d in deltas) / 4
    second = sum(math.log1p(2 * math.exp(d)) for d in deltas) / 4
    terms = loss.loss_terms(TOY_E, TOY_LAB, TOY_REG)
    assert list(terms) == ['loss_spml_sem_ann']
    assert math.isclose(terms['loss_spml_sem_ann'].item(), first,
                        rel_tol=1e-5)
    assert len(loss.memory) == 1
    protos, labels, tags = loss.memory.read()
    assert torch.allclose(protos, torch.tensor([MU0, MU1]))
    assert labels.tolist() == [1, 2] and tags.tolist() == [[1.0, 1.0] +
                                                           [0.0] * 18] * 2
    assert math.isclose(loss(TOY_E, TOY_LAB, TOY_REG).item(), second,
                        rel_tol=1e-5)
    # eval mode reads the memory but does not add to it
    loss.eval()
    loss(TOY_E, TOY_LAB, TOY_REG)
    assert len(loss.memory) == 2
    # weight 0.3 scales the term; memory off gives the first value again
    loss = _a_only(sem_ann_weight=0.3, memory_size=0)
    for _ in range(2):
        value = loss(TOY_E, TOY_LAB, TOY_REG).item()
        assert math.isclose(value, 0.3 * first, rel_tol=1e-5)


def test_spml_image_similarity_mean_per_image():
    """Only I, on e (no location), one cluster per image; labels
    unlabelled (100) and padding (255).
    Image 0: e = (1, 0), (0.6, 0.8), (0, 1), (-0.6, 0.8), regions 0 0 1 1:
    the segments are mu_0, mu_1 above; pixel loss
    log(1 + exp(k (cos_other - cos_own))), k = 2.
    Image 1: pixels (1, 0), (0.6, 0.8) valid, regions 0 1, the rest
    padding: each pixel is its own segment, L = log(1 + exp(k (0.6 - 1))).
    L_I = (mean of image 0 + mean of image 1) / 2 (not the pixel mean)."""
    k = 2.0
    loss = PixelToSegmentContrastiveLoss(
        sem_ann_weight=0.0, sem_occ_weight=0.0, img_sim_weight=1.0,
        img_sim_concentration=k, kmeans_grid=(1, 1), use_location=False)
    emb = torch.cat([TOY_E, TOY_E])
    labels = torch.tensor([[[100] * 4], [[100, 100, 255, 255]]])
    regions = torch.tensor([[[0, 0, 1, 1]], [[0, 1, 0, 0]]])
    pixels = [(1, 0), (0.6, 0.8), (0, 1), (-0.6, 0.8)]
    img0 = [_softplus(k * (_cos(e, MU1) - _cos(e, MU0))) for e in pixels[:2]]
    img0 += [_softplus(k * (_cos(e, MU0) - _cos(e, MU1))) for e in pixels[2:]]
    img1 = _softplus(k * (0.6 - 1.0))
    expected = (sum(img0) / 4 + img1) / 2
    value = loss(emb, labels, regions).item()
    assert math.isclose(value, expected, rel_tol=1e-5)
    assert not math.isclose(value, (sum(img0) + 2 * img1) / 6, rel_tol=1e-3)


def test_spml_no_labelled_pixel_and_all_padding():
    e = TOY_E.clone().requires_grad_(True)
    loss = _a_only(memory_size=0)
    # every pixel unlabelled (value 100): no anchor for A -> 0, finite grad
    value = loss(e, torch.full((1, 1, 4), 100), TOY_REG)
    assert value.item() == 0.0
    value.backward()
    assert e.grad is not None and torch.isfinite(e.grad).all()
    # every pixel padding: no segment at all, every relation 0
    e.grad = None
    loss = PixelToSegmentContrastiveLoss(kmeans_grid=(1, 1), memory_size=0,
                                         feat_aff_weight=1.0)
    terms = loss.loss_terms(e, torch.full((1, 1, 4), 255), TOY_REG)
    assert len(terms) == 4 and all(v.item() == 0 for v in terms.values())
    sum(terms.values()).backward()
    assert torch.equal(e.grad, torch.zeros_like(e))


def test_spml_fp16_embeddings_large_concentration():
    # kappa 100 on float16 embeddings: finite loss and gradient
    g = torch.Generator().manual_seed(0)
    e = torch.randn(2, 4, 6, 6, generator=g).half().requires_grad_(True)
    labels = torch.randint(0, 3, (2, 6, 6), generator=g)
    regions = torch.randint(0, 2, (2, 6, 6), generator=g)
    loss = PixelToSegmentContrastiveLoss(
        sem_ann_concentration=100.0, sem_occ_concentration=100.0,
        img_sim_concentration=100.0, kmeans_grid=(2, 2))
    value = loss(e, labels, regions)
    assert value.dtype == torch.float32 and torch.isfinite(value)
    value.backward()
    assert torch.isfinite(e.grad).all() and e.grad.abs().sum() > 0


def test_spml_defaults_registry_and_all_relations():
    loss = MODELS.build(dict(type='PixelToSegmentContrastiveLoss'))
    assert loss.weights == dict(sem_ann=0.3, sem_occ=0.3, img_sim=0.1,
                                feat_aff=0.0)
    assert loss.concentrations == dict(sem_ann=6.0, sem_occ=8.0,
                                       img_sim=16.0, feat_aff=12.0)
    assert loss.kmeans_grid == (6, 6) and loss.memory.size == 2
    with pytest.raises(ValueError):
        PixelToSegmentContrastiveLoss(sem_ann_weight=0, sem_occ_weight=0,
                                      img_sim_weight=0)
    g = torch.Generator().manual_seed(1)
    e = torch.randn(2, 8, 8, 8, generator=g, requires_grad=True)
    labels = torch.randint(0, 4, (2, 16, 16), generator=g)  # 2x: resized
    labels[:, :, 12:] = 255
    labels[0, :4] = 50
    regions = torch.randint(0, 3, (2, 16, 16), generator=g)
    loss = PixelToSegmentContrastiveLoss(num_classes=4, feat_aff_weight=0.5,
                                         kmeans_grid=(2, 2))
    terms = loss.loss_terms(e, labels, regions,
                            tags=torch.tensor([[1, 0, 0], [0, 1, 1]]))
    assert sorted(terms) == sorted(f'loss_spml_{n}'
                                   for n in loss.RELATIONS)
    total = loss(e, labels, regions, tags=torch.tensor([[1, 0, 0],
                                                        [0, 1, 1]]))
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert torch.isfinite(e.grad).all() and e.grad.abs().sum() > 0


def test_memory_bank():
    bank = SegmentMemoryBank(2)
    assert bank.read() is None
    for i in range(3):
        p = torch.full((i + 1, 2), float(i), requires_grad=True)
        bank.push(p * 1, torch.full((i + 1, ), i), torch.ones(i + 1, 3))
    protos, labels, tags = bank.read()
    # batches 1 and 2 kept (oldest first), detached
    assert labels.tolist() == [1, 1, 2, 2, 2] and not protos.requires_grad
    assert tags.shape == (5, 3)
    with pytest.raises(ValueError):
        bank.push(torch.zeros(1, 4), torch.zeros(1), torch.zeros(1, 3))
    bank.reset()
    assert len(bank) == 0
    off = SegmentMemoryBank(0)
    off.push(torch.zeros(1, 2), torch.zeros(1), torch.zeros(1, 3))
    assert off.read() is None
    # not distributed: the gather is the identity
    t = torch.randn(3, 2)
    gathered, offset = all_gather_cat(t)
    assert gathered is t and offset == 0


# ------------------------------------------------------ two processes


def _batch():
    """The same 2-image batch in every process; all pixels labelled and
    valid, so each image anchors as many pixels."""
    g = torch.Generator().manual_seed(3)
    e = torch.randn(2, 4, 4, 4, generator=g)
    labels = torch.randint(0, 3, (2, 4, 4), generator=g)
    regions = torch.randint(0, 2, (2, 4, 4), generator=g)
    tags = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    return e, labels, regions, tags


def _loss():
    return PixelToSegmentContrastiveLoss(
        num_classes=3, img_sim_weight=0.0, kmeans_grid=(2, 2),
        memory_size=0)


def _dist_worker(rank, port, out_dir):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=port)
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.set_num_threads(1)
    try:
        e, labels, regions, tags = _batch()
        mine = slice(rank, rank + 1)
        result = {}
        for use_torch in (True, False):
            x = e[mine].clone().requires_grad_(True)
            protos = segment_prototypes(
                x, intersect_segments(labels[mine], valid=None)[0],
                int(labels[mine].unique().numel()))
            gathered, offset = all_gather_cat(
                protos, use_torch_functional=use_torch)
            # the gradient of a sum over all processes' rows reaches x
            (gathered.sum() * (rank + 1)).backward()
            result[f'gathered_{use_torch}'] = gathered.detach()
            result[f'offset_{use_torch}'] = offset
            result[f'gather_grad_{use_torch}'] = x.grad
        x = e[mine].clone().requires_grad_(True)
        terms = _loss().loss_terms(x, labels[mine], regions[mine],
                                   tags[mine])
        sum(terms.values()).backward()
        result['terms'] = {k: v.item() for k, v in terms.items()}
        result['grad'] = x.grad
        torch.save(result, osp.join(out_dir, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_gathered_segments_two_processes(tmp_path):
    """Two gloo processes holding one image each: the gathered prototypes
    equal one process's prototypes of both images; the loss terms average
    to the one-process loss; each process's gradient is the gradient of
    the sum of both processes' losses (DDP then averages it)."""
    torch.multiprocessing.start_processes(_dist_worker,
                                          args=(free_port(), str(tmp_path)),
                                          nprocs=2,
                                          start_method='fork')
    res = [torch.load(osp.join(tmp_path, f'rank{r}.pth')) for r in range(2)]
    e, labels, regions, tags = _batch()
    # one process: per-image label segments, prototypes of both images
    ids, keys = intersect_segments(labels)
    single = segment_prototypes(e, ids, keys.shape[0])
    n0 = int((keys[:, 0] == 0).sum())
    for use_torch in (True, False):
        for r in range(2):
            assert torch.allclose(res[r][f'gathered_{use_torch}'], single)
        assert [res[r][f'offset_{use_torch}'] for r in range(2)] == [0, n0]
        # d/dx of (1 + 2) * sum(gathered): both processes' factors
        x = e.clone().requires_grad_(True)
        (3 * segment_prototypes(x, ids, keys.shape[0]).sum()).backward()
        for r in range(2):
            assert torch.allclose(res[r][f'gather_grad_{use_torch}'],
                                  x.grad[r:r + 1], atol=1e-6)
    x = e.clone().requires_grad_(True)
    terms = _loss().loss_terms(x, labels, regions, tags)
    sum(terms.values()).backward()
    for key, value in terms.items():
        mean = (res[0]['terms'][key] + res[1]['terms'][key]) / 2
        assert math.isclose(value.item(), mean, rel_tol=1e-5), key
    for r in range(2):
        assert torch.allclose(res[r]['grad'], 2 * x.grad[r:r + 1],
                              atol=1e-6)
