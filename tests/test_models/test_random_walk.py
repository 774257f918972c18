# Copyright (c) OpenMMLab. All rights reserved.
import pytest
import torch

from mmwsss.models.utils import (affinity_pairs, dense_random_walk,
                                 pair_displacements, random_walk)


@pytest.fixture(autouse=True)
def _one_thread():
    # the graphs here are tiny: with several threads on a loaded machine
    # the 256 small sparse products spend their time synchronising threads
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_pair_displacements_radius_5():
    disps = pair_displacements(5)
    # dy = 0: dx = 1..4 -> 4; dy = 1: |dx| <= 4 -> 9; dy = 2: |dx| <= 4 -> 9;
    # dy = 3: |dx| <= 3 -> 7; dy = 4: |dx| <= 2 -> 5.  4 + 9 + 9 + 7 + 5
    assert len(disps) == 34
    assert len(set(disps)) == 34
    for member in [(0, 1), (0, 4), (1, -4), (2, 4), (3, 3), (4, -2),
                   (4, 2)]:
        assert member in disps
    for non_member in [(0, 0), (0, 5), (0, -1), (-1, 0), (3, 4), (4, 3),
                       (4, -3), (1, 5), (5, 0)]:
        assert non_member not in disps
    # PSA's order: the same row first, then row by row, left to right
    assert disps[:5] == [(0, 1), (0, 2), (0, 3), (0, 4), (1, -4)]
    assert disps[-1] == (4, 2)
    assert pair_displacements(1) == []
    assert pair_displacements(2) == [(0, 1), (1, -1), (1, 0), (1, 1)]
    with pytest.raises(ValueError):
        pair_displacements(0)


def test_affinity_pairs_hand_written():
    # 2 x 3 grid:  0 1 2
    #              3 4 5
    ind_from, ind_to = affinity_pairs(2, 2, 3)
    assert ind_from.dtype == torch.int64 and ind_to.dtype == torch.int64
    pairs = list(zip(ind_from.tolist(), ind_to.tolist()))
    assert pairs == [
        (0, 1), (1, 2), (3, 4), (4, 5),  # (0, 1)
        (1, 3), (2, 4),  # (1, -1)
        (0, 3), (1, 4), (2, 5),  # (1, 0)
        (0, 4), (1, 5),  # (1, 1)
    ]


def test_affinity_pairs_cover_every_in_grid_pair():
    radius, h, w = 5, 10, 12
    ind_from, ind_to = affinity_pairs(radius, h, w)
    got = set(zip(ind_from.tolist(), ind_to.tolist()))
    assert len(got) == len(ind_from)  # no pair twice
    expected = set()
    for p in range(h * w):
        for q in range(p + 1, h * w):
            dy, dx = q // w - p // w, q % w - p % w
            if dy * dy + dx * dx < radius * radius:
                expected.add((p, q))
    assert got == expected
    # border rows/columns are "from" pixels too (unlike PSA's cropping)
    assert (h - 1) * w in ind_from.tolist()
    # degenerate grids
    assert len(affinity_pairs(5, 1, 1)[0]) == 0
    assert len(affinity_pairs(1, 4, 4)[0]) == 0
    assert affinity_pairs(2, 1, 3)[0].tolist() == [0, 1]


# 3 x 1 grid, radius 2: the pairs are 0-1 and 1-2
AFF = torch.tensor([0.5, 0.25], dtype=torch.float64)
X0 = torch.tensor([[1.0, 0.0, 0.5], [0.0, 2.0, 1.0]], dtype=torch.float64)
# beta = 1: A = [[1, .5, 0], [.5, 1, .25], [0, .25, 1]],
# column sums 1.5, 1.75, 1.25
T_BETA1 = torch.tensor([[2 / 3, 2 / 7, 0.0],
                        [1 / 3, 4 / 7, 1 / 5],
                        [0.0, 1 / 7, 4 / 5]], dtype=torch.float64)
# beta = 2: A = [[1, 1/4, 0], [1/4, 1, 1/16], [0, 1/16, 1]],
# column sums 5/4, 21/16, 17/16
T_BETA2 = torch.tensor([[4 / 5, 4 / 21, 0.0],
                        [1 / 5, 16 / 21, 1 / 17],
                        [0.0, 1 / 21, 16 / 17]], dtype=torch.float64)
# beta = 1 without self loops: A = [[0, .5, 0], [.5, 0, .25], [0, .25, 0]]
T_NO_LOOPS = torch.tensor([[0.0, 2 / 3, 0.0],
                           [1.0, 0.0, 1.0],
                           [0.0, 1 / 3, 0.0]], dtype=torch.float64)


@pytest.mark.parametrize('beta,loops,trans', [(1.0, True, T_BETA1),
                                              (2.0, True, T_BETA2),
                                              (1.0, False, T_NO_LOOPS)])
@pytest.mark.parametrize('t', [1, 2, 3, 8])
def test_random_walk_hand_written_transition(beta, loops, trans, t):
    ind_from, ind_to = affinity_pairs(2, 3, 1)
    assert list(zip(ind_from.tolist(), ind_to.tolist())) == [(0, 1), (1, 2)]
    expected = X0 @ torch.linalg.matrix_power(trans, t)
    out = random_walk(X0, ind_from, ind_to, AFF, beta=beta, num_iters=t,
                      add_self_loops=loops)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    # (C, H, W) input gives the same numbers in the same shape
    out3d = random_walk(X0.view(2, 3, 1), ind_from, ind_to, AFF, beta=beta,
                        num_iters=t, add_self_loops=loops)
    assert out3d.shape == (2, 3, 1)
    torch.testing.assert_close(out3d.view(2, 3), expected, atol=1e-6,
                               rtol=0)
    dense = dense_random_walk(X0, ind_from, ind_to, AFF, beta=beta,
                              num_iters=t, add_self_loops=loops)
    torch.testing.assert_close(dense, expected, atol=1e-6, rtol=0)


def _random_problem(h, w, c, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    ind_from, ind_to = affinity_pairs(5, h, w)
    aff = 1 - torch.rand(len(ind_from), generator=g, dtype=dtype)  # (0, 1]
    scores = torch.rand(c, h, w, generator=g, dtype=dtype)
    return scores, ind_from, ind_to, aff


@pytest.mark.parametrize('t', [256, 5])
def test_random_walk_matches_dense(t):
    scores, ind_from, ind_to, aff = _random_problem(9, 7, 4, torch.float64)
    out = random_walk(scores, ind_from, ind_to, aff, num_iters=t)
    ref = dense_random_walk(scores, ind_from, ind_to, aff, num_iters=t)
    assert out.shape == (4, 9, 7)
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=0)
    # float32 in, float32 out, close to the float64 result
    out32 = random_walk(scores.float(), ind_from, ind_to, aff.float(),
                        num_iters=t)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), ref, atol=1e-5, rtol=0)


def test_zero_iterations_is_identity():
    scores, ind_from, ind_to, aff = _random_problem(4, 5, 3, torch.float32)
    for fn in (random_walk, dense_random_walk):
        out = fn(scores, ind_from, ind_to, aff, num_iters=0)
        assert torch.equal(out, scores)
        assert out.data_ptr() != scores.data_ptr()


def test_invariants():
    # T is column-stochastic (1^T T = 1^T) and A is symmetric, so T d = d
    # with the degrees d = A 1.  For row vectors X (C, N):
    #   constant rows are fixed points: (c 1^T) T = c 1^T;
    #   X T d = X d: the degree-weighted sum is conserved;
    #   (X T)_j = sum_i X_i T_ij is a convex combination: values stay in
    #   [min X, max X].
    # The plain sum X T 1 is NOT conserved (T 1 != 1 in general).
    scores, ind_from, ind_to, aff = _random_problem(6, 8, 3, torch.float64)
    n = 6 * 8
    weight = aff**8
    a = torch.eye(n, dtype=torch.float64)
    a[ind_from, ind_to] = weight
    a[ind_to, ind_from] = weight
    deg = a.sum(0)
    x0 = scores.view(3, n)
    for t in (1, 7, 256):
        xt = random_walk(scores, ind_from, ind_to, aff, num_iters=t).view(
            3, n)
        torch.testing.assert_close(xt @ deg, x0 @ deg, atol=1e-9, rtol=0)
        assert (xt.min(1).values >= x0.min(1).values - 1e-12).all()
        assert (xt.max(1).values <= x0.max(1).values + 1e-12).all()
    const = torch.full((2, 6, 8), 0.3, dtype=torch.float64)
    torch.testing.assert_close(
        random_walk(const, ind_from, ind_to, aff, num_iters=9), const)
    # on the hand-written 3 x 1 graph the plain sum does change
    x1 = X0 @ T_BETA1
    assert not torch.allclose(x1.sum(1), X0.sum(1))
    deg1 = torch.tensor([1.5, 1.75, 1.25], dtype=torch.float64)
    torch.testing.assert_close(x1 @ deg1, X0 @ deg1)


def test_wrong_inputs_raise():
    scores, ind_from, ind_to, aff = _random_problem(2, 3, 2, torch.float32)
    assert len(ind_from) == 15  # radius 5 links all 6 positions
    for fn in (random_walk, dense_random_walk):
        with pytest.raises(ValueError, match=r'affinity has 5 .*\b15\b'):
            fn(scores, ind_from, ind_to, aff[:5])
        with pytest.raises(ValueError, match=r'ind_from has 15 .*\b14\b'):
            fn(scores, ind_from, ind_to[:14], aff)
        with pytest.raises(ValueError, match=r'\[0, 3\)'):
            fn(scores[:, :1], ind_from, ind_to, aff)
        with pytest.raises(ValueError, match='num_iters'):
            fn(scores, ind_from, ind_to, aff, num_iters=-1)
        with pytest.raises(ValueError, match='non-negative'):
            fn(scores, ind_from, ind_to, -aff)
        with pytest.raises(ValueError, match='shape'):
            fn(scores[0, 0], ind_from, ind_to, aff)
