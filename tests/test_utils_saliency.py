# Copyright (c) OpenMMLab. All rights reserved.
"""Unsupervised saliency (mmwsss.utils.saliency) and its CLI, on synthetic
images built here."""
import heapq
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmwsss.utils.saliency import (compute_saliency, frequency_tuned_saliency,
                                   mbd_saliency, minimum_barrier_distance,
                                   rgb_to_lab, save_saliency_png)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(REPO, 'tools', 'misc', 'make_saliency.py')

GREY = (128, 128, 128)
RED = (220, 30, 30)


def _srgb_to_lab(rgb) -> np.ndarray:
    """CIE Lab (D65) of one sRGB colour in 0..255, by the textbook formula."""
    c = np.asarray(rgb, np.float64) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055)**2.4)
    m = np.array([[0.412453, 0.357580, 0.180423],
                  [0.212671, 0.715160, 0.072169],
                  [0.019334, 0.119193, 0.950227]])
    xyz = m @ lin / np.array([0.950456, 1., 1.088754])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([
        116 * f[1] - 16 if xyz[1] > 0.008856 else 903.3 * xyz[1],
        500 * (f[0] - f[1]), 200 * (f[1] - f[2])
    ])


def _square_image(h=64, w=96, box=(20, 44, 36, 60), fg=RED):
    img = np.full((h, w, 3), GREY, np.uint8)
    y0, y1, x0, x1 = box
    img[y0:y1, x0:x1] = fg
    inside = np.zeros((h, w), bool)
    inside[y0:y1, x0:x1] = True
    border = np.zeros((h, w), bool)
    border[:4] = border[-4:] = border[:, :4] = border[:, -4:] = True
    return img, inside, border


def _exact_mbd(img: np.ndarray) -> np.ndarray:
    """Exact MBD to the border: min over lower bounds l of the minimax path
    value through pixels >= l, minus l."""
    h, w = img.shape
    seed = np.zeros((h, w), bool)
    seed[0] = seed[-1] = seed[:, 0] = seed[:, -1] = True
    best = np.full((h, w), np.inf)
    for low in np.unique(img):
        ok = img >= low
        top = np.full((h, w), np.inf)
        heap = []
        for i, j in zip(*np.nonzero(seed & ok)):
            top[i, j] = img[i, j]
            heap.append((img[i, j], i, j))
        heapq.heapify(heap)
        while heap:
            m, i, j = heapq.heappop(heap)
            if m > top[i, j]:
                continue
            for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                if 0 <= a < h and 0 <= b < w and ok[a, b]:
                    v = max(m, img[a, b])
                    if v < top[a, b]:
                        top[a, b] = v
                        heapq.heappush(heap, (v, a, b))
        best = np.minimum(best, top - low)
    best[seed] = 0
    return best


# --------------------------------------------------------------------------
# colour conversion and frequency-tuned saliency
# --------------------------------------------------------------------------


def test_rgb_to_lab_matches_formula():
    colours = [RED, GREY, (255, 0, 0), (0, 0, 255), (10, 200, 90)]
    img = np.array([colours], np.uint8)
    lab = rgb_to_lab(img)[0]
    for got, rgb in zip(lab, colours):
        np.testing.assert_allclose(got, _srgb_to_lab(rgb), atol=1e-3)
    # pure red, the well-known value
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.01)


@pytest.mark.parametrize('shape', [(20, 30), (1, 1), (3, 7)])
def test_ft_uniform_image_is_zero(shape):
    img = np.full(shape + (3, ), 77, np.uint8)
    sal = frequency_tuned_saliency(img)
    assert sal.shape == shape and sal.dtype == np.float32
    assert np.all(sal == 0)
    assert np.all(compute_saliency(img, 'ft') == 0)


def test_ft_two_colours_hand_computed():
    # 4 red pixels among 16: the mean Lab vector is 3/4 grey + 1/4 red, so
    # without blur a grey pixel is at 1/4 and a red one at 3/4 of the
    # grey-red distance d; normalised: grey 0, red 1.
    img = np.full((4, 4, 3), GREY, np.uint8)
    img[1:3, 2:4] = RED
    red = np.zeros((4, 4), bool)
    red[1:3, 2:4] = True
    d = np.linalg.norm(_srgb_to_lab(RED) - _srgb_to_lab(GREY))
    raw = frequency_tuned_saliency(img, blur_ksize=1, normalize=False)
    np.testing.assert_allclose(raw[red], 0.75 * d, rtol=1e-5)
    np.testing.assert_allclose(raw[~red], 0.25 * d, rtol=1e-5)
    sal = frequency_tuned_saliency(img, blur_ksize=1)
    np.testing.assert_allclose(sal, red.astype(np.float32), atol=1e-5)


def test_ft_blur_keeps_flat_regions():
    # With the 5x5 binomial blur, pixels whose 5x5 window has one colour
    # keep the exact distances; the mean uses the unblurred image (1/4 red).
    img = np.full((16, 16, 3), GREY, np.uint8)
    img[:8, :8] = RED
    d = np.linalg.norm(_srgb_to_lab(RED) - _srgb_to_lab(GREY))
    raw = frequency_tuned_saliency(img, normalize=False)
    np.testing.assert_allclose(raw[:6, :6], 0.75 * d, rtol=1e-5)
    np.testing.assert_allclose(raw[10:, 10:], 0.25 * d, rtol=1e-5)
    np.testing.assert_allclose(raw[10:, :6], 0.25 * d, rtol=1e-5)
    # mixed colours near the edge lie between; one is nearly the mean
    assert raw.min() < 0.1 * d


def test_float_input_equals_uint8_input():
    img, _, _ = _square_image()
    for method in ('ft', 'mbd'):
        np.testing.assert_allclose(
            compute_saliency(img, method),
            compute_saliency(img.astype(np.float32) / 255, method),
            atol=1e-5)


# --------------------------------------------------------------------------
# minimum barrier distance and MB+ saliency
# --------------------------------------------------------------------------


def test_mbd_hand_computed():
    # border 0, ring 0.5, centre 1: any path from the border to the centre
    # goes 0 -> 0.5 -> 1 (barrier 1); ring pixels: 0 -> 0.5 (barrier 0.5)
    img = np.zeros((5, 5), np.float32)
    img[1:4, 1:4] = 0.5
    img[2, 2] = 1.
    expected = np.zeros((5, 5), np.float32)
    expected[1:4, 1:4] = 0.5
    expected[2, 2] = 1.
    np.testing.assert_array_equal(minimum_barrier_distance(img), expected)
    # seeds elsewhere: from the centre only
    seeds = np.zeros((5, 5), bool)
    seeds[2, 2] = True
    d = minimum_barrier_distance(img, seeds=seeds)
    assert d[2, 2] == 0 and d[2, 1] == 0.5 and d[0, 0] == 1.


def test_mbd_follows_a_winding_corridor():
    # walls of 1; a corridor of 0 enters at the top, runs down, right, up,
    # left and down again. Every pixel has MBD 0 (walls through the walls
    # from the border, the corridor along it), but the last leg of the
    # corridor is reached only through the corridor: one iteration of the
    # four sweeps gets there through a wall (barrier 1), two follow it.
    img = np.ones((9, 9), np.float32)
    corridor = [(i, 1) for i in range(0, 8)] + [(7, j) for j in range(1, 8)]
    corridor += [(i, 7) for i in range(7, 1, -1)] + [(2, j)
                                                     for j in range(7, 2, -1)]
    corridor += [(i, 3) for i in range(2, 6)]
    for p in corridor:
        img[p] = 0
    expected = np.zeros((9, 9), np.float32)
    expected[3:6, 3] = 1
    np.testing.assert_array_equal(
        minimum_barrier_distance(img, num_iters=1), expected)
    np.testing.assert_array_equal(
        minimum_barrier_distance(img, num_iters=2), 0)
    np.testing.assert_array_equal(minimum_barrier_distance(img), 0)
    np.testing.assert_array_equal(_exact_mbd(img), 0)


def test_mbd_is_an_upper_bound_of_the_exact_distance():
    rng = np.random.default_rng(0)
    for _ in range(4):
        img = np.round(rng.random((6, 7)) * 6).astype(np.float32) / 6
        exact = _exact_mbd(img)
        approx = minimum_barrier_distance(img)
        assert np.all(approx >= exact - 1e-6)
        # seeds are 0, and no distance exceeds the value range
        assert np.all(approx[0] == 0) and approx.max() <= np.ptp(img)
    # per channel on a multi-channel image
    img = rng.random((6, 7, 3)).astype(np.float32)
    multi = minimum_barrier_distance(img)
    for c in range(3):
        np.testing.assert_array_equal(multi[..., c],
                                      minimum_barrier_distance(img[..., c]))


def test_mbd_saliency_uniform_and_tiny_images():
    assert np.all(mbd_saliency(np.full((40, 50, 3), 90, np.uint8)) == 0)
    sal = mbd_saliency(np.zeros((2, 2, 3), np.uint8), max_side=0)
    assert sal.shape == (2, 2) and np.all(sal == 0)


# --------------------------------------------------------------------------
# both methods on a red square
# --------------------------------------------------------------------------


@pytest.mark.parametrize('method', ['ft', 'mbd'])
def test_red_square_is_salient(method):
    img, inside, border = _square_image()
    sal = compute_saliency(img, method)
    assert sal.shape == (64, 96) and sal.dtype == np.float32
    assert sal.min() >= 0 and sal.max() <= 1 and sal.max() == 1
    assert sal[inside].mean() > 0.9
    assert sal[border].max() < 0.11
    if method == 'mbd':
        # the background prior leaves nothing of the grey border region
        assert sal[border].max() < 0.01
        assert sal[~inside].mean() < 0.01


@pytest.mark.parametrize('method', ['ft', 'mbd'])
def test_off_centre_square_on_noise(method):
    img, inside, border = _square_image(box=(6, 30, 8, 32), fg=(30, 30, 220))
    rng = np.random.default_rng(1)
    noisy = np.clip(img + rng.integers(-20, 21, img.shape), 0, 255)
    sal = compute_saliency(noisy.astype(np.uint8), method)
    assert sal[inside].mean() > 0.8
    assert sal[border & ~inside].mean() < 0.15
    assert sal[inside].mean() > 5 * sal[~inside].mean()


def test_compute_saliency_rejects_bad_input():
    with pytest.raises(ValueError, match='unknown saliency method'):
        compute_saliency(np.zeros((4, 4, 3), np.uint8), 'dss')
    with pytest.raises(ValueError, match='RGB'):
        compute_saliency(np.zeros((4, 4), np.uint8), 'ft')
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        compute_saliency(np.full((4, 4, 3), 2., np.float32), 'ft')
    with pytest.raises(ValueError, match='odd'):
        frequency_tuned_saliency(np.zeros((4, 4, 3), np.uint8), blur_ksize=4)


def test_save_saliency_png(tmp_path):
    sal = np.array([[0., 0.5, 1.], [0.25, 0.75, 0.999]], np.float32)
    path = str(tmp_path / 'sub' / 'a.png')
    save_saliency_png(path, sal)
    with Image.open(path) as img:
        assert img.mode == 'L'
        np.testing.assert_array_equal(
            np.array(img), [[0, 128, 255], [64, 191, 255]])
    assert os.listdir(tmp_path / 'sub') == ['a.png']  # no temporary left
    with pytest.raises(ValueError, match='a.png'):
        save_saliency_png(path, sal + 0.5)
    with pytest.raises(ValueError, match='2-D'):
        save_saliency_png(path, sal[None])


# --------------------------------------------------------------------------
# the CLI (run in this process: importing the package again in a subprocess
# would cost seconds per call)
# --------------------------------------------------------------------------


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('make_saliency_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_images(img_dir, sizes):
    os.makedirs(img_dir, exist_ok=True)
    ids = []
    for k, (h, w) in enumerate(sizes):
        img, _, _ = _square_image(h, w, (h // 4, h // 2, w // 4, w // 2))
        img_id = f'img_{k}'
        Image.fromarray(img).save(osp.join(img_dir, img_id + '.jpg'))
        ids.append(img_id)
    return ids


@pytest.mark.parametrize('method', ['ft', 'mbd'])
def test_cli_writes_resumes_and_records(tool, tmp_path, method, capsys):
    img_dir, out_dir = str(tmp_path / 'img'), str(tmp_path / 'sal')
    sizes = [(24, 32), (30, 20), (16, 16)]
    ids = _write_images(img_dir, sizes)
    tool.main([img_dir, out_dir, '--method', method])
    for img_id, (h, w) in zip(ids, sizes):
        with Image.open(osp.join(out_dir, img_id + '.png')) as png:
            assert png.mode == 'L' and png.size == (w, h)
            assert np.array(png).max() == 255
    assert sorted(os.listdir(out_dir)) == sorted(
        [i + '.png' for i in ids] + ['saliency_meta.json'])
    with open(osp.join(out_dir, 'saliency_meta.json')) as f:
        meta = json.load(f)
    assert meta['method'] == method and meta['complete'] is True
    assert meta['count'] == 3 and meta['computed_this_run'] == 3
    assert meta['source_dir'] == osp.abspath(img_dir)
    assert meta['params'] == tool.METHOD_PARAMS[method]
    assert meta['tool_version'] == tool.TOOL_VERSION
    assert 'UNSUPERVISED' in meta['saliency']

    # a rerun skips the existing maps and recomputes a deleted one
    pngs = [osp.join(out_dir, i + '.png') for i in ids]
    past = 1_000_000_000
    for p in pngs:
        os.utime(p, (past, past))
    os.remove(pngs[1])
    capsys.readouterr()
    tool.main([img_dir, out_dir, '--method', method])
    assert '1 to compute, 2 already' in capsys.readouterr().out
    assert os.stat(pngs[0]).st_mtime == past
    assert os.stat(pngs[2]).st_mtime == past
    assert osp.isfile(pngs[1])
    with open(osp.join(out_dir, 'saliency_meta.json')) as f:
        meta = json.load(f)
    assert meta['count'] == 3 and meta['computed_this_run'] == 1

    # another method into the same folder is refused
    other = 'mbd' if method == 'ft' else 'ft'
    with pytest.raises(SystemExit, match='--overwrite'):
        tool.main([img_dir, out_dir, '--method', other])


def _list_case(tmp_path):
    img_dir, out_dir = str(tmp_path / 'img'), str(tmp_path / 'sal')
    ids = _write_images(img_dir, [(20, 20)] * 4)
    split = tmp_path / 'split.txt'
    split.write_text(f'{ids[0]}\n\n{ids[2]}\n{ids[3]}\n')
    expected = sorted([
        ids[0] + '.png', ids[2] + '.png', ids[3] + '.png',
        'saliency_meta.json'
    ])
    return img_dir, out_dir, split, expected


def test_cli_list(tool, tmp_path):
    img_dir, out_dir, split, expected = _list_case(tmp_path)
    tool.main([img_dir, out_dir, '--method', 'ft', '--list', str(split)])
    assert sorted(os.listdir(out_dir)) == expected
    split.write_text('img_0\nnope\n')
    with pytest.raises(SystemExit, match='nope.jpg'):
        tool.main([img_dir, out_dir, '--method', 'ft', '--list', str(split)])


@pytest.mark.slow  # the pool's processes import the package (seconds)
def test_cli_workers(tool, tmp_path):
    img_dir, out_dir, split, expected = _list_case(tmp_path)
    tool.main([
        img_dir, out_dir, '--method', 'ft', '--list',
        str(split), '--workers', '2'
    ])
    assert sorted(os.listdir(out_dir)) == expected
    # the maps of the pool are those of one process
    one = str(tmp_path / 'one')
    tool.main([img_dir, one, '--method', 'ft', '--list', str(split)])
    for name in expected[:-1]:
        assert np.array_equal(
            np.asarray(Image.open(osp.join(out_dir, name))),
            np.asarray(Image.open(osp.join(one, name)))), name
    # an unreadable image in a worker is named too
    with open(osp.join(img_dir, 'bad.jpg'), 'wb') as f:
        f.write(b'\xff\xd8 broken')
    split.write_text('img_1\nbad\n')
    with pytest.raises(SystemExit, match='bad.jpg'):
        tool.main([
            img_dir, out_dir, '--method', 'ft', '--list',
            str(split), '--workers', '2'
        ])


def test_cli_corrupt_image_is_named(tool, tmp_path):
    img_dir, out_dir = str(tmp_path / 'img'), str(tmp_path / 'sal')
    ids = _write_images(img_dir, [(20, 20)] * 2)
    bad = osp.join(img_dir, 'broken.jpg')
    with open(bad, 'wb') as f:
        f.write(b'not a jpeg at all')
    with pytest.raises(SystemExit, match='broken.jpg'):
        tool.main([img_dir, out_dir, '--method', 'ft'])
    # a truncated JPEG too
    with open(osp.join(img_dir, ids[0] + '.jpg'), 'rb') as f:
        data = f.read()
    with open(bad, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(SystemExit, match='broken.jpg'):
        tool.main([img_dir, out_dir, '--method', 'ft', '--overwrite'])
    assert not osp.exists(osp.join(out_dir, 'broken.png'))
