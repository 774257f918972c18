# Copyright (c) OpenMMLab. All rights reserved.
"""Tests of the synthetic WSSS dataset generator."""
import hashlib
import json
import multiprocessing
import os
import os.path as osp
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from mmwsss.datasets import synthetic as syn
from mmwsss.datasets.synthetic import (SYNTHETIC_CLASSES, SYNTHETIC_PALETTE,
                                       generate_synthetic_wsss)
from mmwsss.testing import run_tool

SMALL = dict(num_train=40, num_val=16, image_size=64, seed=3)
NUM_IMAGES = SMALL['num_train'] + SMALL['num_val']
# a smaller set for the tests of writing it (determinism, reruns, races)
TINY = dict(num_train=6, num_val=3, image_size=32, seed=3)
# A larger set of rendered (not written) samples for statistics.
STATS = dict(seed=0, image_size=64, num_train=150, num_val=50)


def _sha256_tree(root):
    digests = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                digests[osp.relpath(path, root)] = hashlib.sha256(
                    f.read()).hexdigest()
    return digests


def _small_sample(index):
    return syn._render_sample(index, SMALL['seed'], SMALL['image_size'],
                              SMALL['num_train'], SMALL['num_val'])


def _leftovers(parent):
    return [n for n in os.listdir(parent) if n.startswith('.')]


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    out_dir = str(tmp_path_factory.mktemp('syn') / 'ds')
    assert generate_synthetic_wsss(out_dir, **SMALL) == out_dir
    return out_dir


@pytest.fixture(scope='module')
def samples():
    total = STATS['num_train'] + STATS['num_val']
    return [syn._render_sample(i, **STATS) for i in range(total)]


def test_public_constants():
    assert SYNTHETIC_CLASSES == ('background', 'aeroplane', 'boat', 'car',
                                 'person', 'cat')
    assert SYNTHETIC_PALETTE == [[0, 0, 0], [128, 0, 0], [0, 128, 0],
                                 [128, 128, 0], [0, 0, 128], [128, 0, 128]]
    assert set(syn.__all__) == {
        'SYNTHETIC_CLASSES', 'SYNTHETIC_PALETTE', 'generate_synthetic_wsss'
    }


def test_layout_and_counts(dataset):
    for sub, ext in (('JPEGImages', '.jpg'), ('SegmentationClass', '.png'),
                     ('SaliencyImages', '.png'), ('Scribbles', '.png'),
                     ('Points', '.png'), ('Annotations', '.xml')):
        names = sorted(os.listdir(osp.join(dataset, sub)))
        assert names == [f'syn_{i:06d}{ext}' for i in range(NUM_IMAGES)]
    split_dir = osp.join(dataset, 'ImageSets', 'Segmentation')
    splits = {}
    for split in ('train', 'val', 'trainval'):
        with open(osp.join(split_dir, f'{split}.txt')) as f:
            text = f.read()
        assert text.endswith('\n')
        splits[split] = text.split()
    assert splits['train'] == [f'syn_{i:06d}' for i in range(40)]
    assert splits['val'] == [f'syn_{i:06d}' for i in range(40, 56)]
    assert splits['trainval'] == splits['train'] + splits['val']
    assert not _leftovers(osp.dirname(dataset))

    img = Image.open(osp.join(dataset, 'JPEGImages', 'syn_000000.jpg'))
    assert img.format == 'JPEG' and img.mode == 'RGB'
    assert img.size == (64, 64)

    with open(osp.join(dataset, 'meta.json')) as f:
        meta = json.load(f)
    assert meta['classes'] == list(SYNTHETIC_CLASSES)
    assert meta['palette'] == SYNTHETIC_PALETTE
    assert meta['seed'] == 3
    assert meta['version'] == meta['params']['version']
    assert {k: meta['params'][k] for k in SMALL} == SMALL
    assert meta['splits']['train']['num_images'] == 40
    assert meta['splits']['val']['num_images'] == 16
    assert meta['splits']['trainval']['num_images'] == 56


def test_masks_match_render_and_class_counts(dataset):
    with open(osp.join(dataset, 'meta.json')) as f:
        meta = json.load(f)
    counts = {s: dict.fromkeys(SYNTHETIC_CLASSES, 0) for s in ('train', 'val')}
    for index in range(NUM_IMAGES):
        sample = _small_sample(index)
        png = Image.open(
            osp.join(dataset, 'SegmentationClass', f'{sample.img_id}.png'))
        assert png.mode == 'P'
        palette = np.array(png.getpalette()).reshape(-1, 3)
        assert len(palette) == 256
        assert palette[:6].tolist() == SYNTHETIC_PALETTE
        assert palette[255].tolist() == [224, 224, 192]
        gt = np.asarray(png)
        assert set(np.unique(gt).tolist()) <= {0, 1, 2, 3, 4, 5, 255}
        np.testing.assert_array_equal(gt, sample.gt)
        for c in np.unique(gt):
            if c != 255:
                counts[sample.split][SYNTHETIC_CLASSES[c]] += 1
    for split in ('train', 'val'):
        assert meta['splits'][split]['class_image_counts'] == counts[split]
        # Every class appears in both splits.
        assert all(v > 0 for v in counts[split].values()), counts[split]


def test_ignore_band_on_object_boundaries():
    sample = next(s for s in map(_small_sample, range(NUM_IMAGES))
                  if len(s.instances) >= 2)
    inst = sample.instance_map
    padded = np.pad(inst, 1, mode='edge')
    differs = np.zeros(inst.shape, bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        differs |= padded[dy:dy + inst.shape[0],
                          dx:dx + inst.shape[1]] != inst
    expected_band = differs & (inst > 0)
    assert expected_band.any()
    np.testing.assert_array_equal(sample.gt == 255, expected_band)
    # Off the band the label is exactly the drawn class.
    for k, instance in enumerate(sample.instances):
        inside = (inst == k + 1) & ~expected_band
        assert inside.any()
        assert (sample.gt[inside] == instance.class_index).all()
    assert (sample.gt[inst == 0] == 0).all()


def test_determinism(tmp_path):
    first = generate_synthetic_wsss(str(tmp_path / 'a'), **TINY)
    second = generate_synthetic_wsss(str(tmp_path / 'b'), **TINY)
    digests = _sha256_tree(first)
    assert len(digests) == 6 * (TINY['num_train'] + TINY['num_val']) + 3 + 1
    assert digests == _sha256_tree(second)
    other = generate_synthetic_wsss(
        str(tmp_path / 'c'), **dict(TINY, seed=4))
    changed = _sha256_tree(other)
    assert changed['JPEGImages/syn_000000.jpg'] != \
        digests['JPEGImages/syn_000000.jpg']


def test_render_does_not_depend_on_global_rng():
    np.random.seed(1)
    a = _small_sample(7)
    np.random.seed(2)
    np.random.random(100)
    b = _small_sample(7)
    np.testing.assert_array_equal(a.img, b.img)
    np.testing.assert_array_equal(a.saliency, b.saliency)
    np.testing.assert_array_equal(a.scribbles, b.scribbles)


def test_context_co_occurrence(samples):
    rules = {1: syn._CTX_SKY, 2: syn._CTX_WATER, 3: syn._CTX_ROAD}
    for class_index, ctx in rules.items():
        with_obj, without_obj = [], []
        for sample in samples:
            classes = {i.class_index for i in sample.instances}
            has_ctx = bool((sample.context == ctx).any())
            (with_obj if class_index in classes else without_obj).append(
                has_ctx)
            for inst in sample.instances:
                if inst.class_index == class_index:
                    x, y = inst.anchor
                    assert sample.context[y, x] == ctx
                    # The object touches or overlaps its context rows.
                    ys = np.nonzero(sample.context == ctx)[0]
                    rows = np.nonzero(inst.mask.any(1))[0]
                    assert rows.max() >= ys.min() and rows.min() <= ys.max()
        assert len(with_obj) >= 20
        assert all(with_obj)  # e.g. every boat is on water
        rate = np.mean(without_obj)
        assert 0.04 <= rate <= 0.3, (class_index, rate)


def test_background_only_fraction(samples, dataset):
    rate = np.mean([not s.instances for s in samples])
    assert 0.08 <= rate <= 0.12
    for sample in samples:
        if not sample.instances:
            assert (sample.gt == 0).all()
            assert (sample.points[sample.points != 255] == 0).all()
    with open(osp.join(dataset, 'meta.json')) as f:
        meta = json.load(f)
    bg_only = meta['splits']['trainval']['num_background_only']
    assert 0.04 <= bg_only / NUM_IMAGES <= 0.16
    # Background-only images are mostly still textured scenes.
    stds = [s.img.std() for s in samples if not s.instances]
    assert min(stds) > 5


def test_objects_per_image_and_scales(samples):
    counts = np.array([len(s.instances) for s in samples if s.instances])
    assert counts.min() >= 1 and counts.max() <= 5
    assert 0.3 <= np.mean(counts == 1) <= 0.6
    assert np.mean(counts >= 2) >= 0.35
    same_class = sum(
        len(s.instances) > len({i.class_index
                                for i in s.instances}) for s in samples)
    assert same_class >= 5
    multi_class = sum(
        len({i.class_index
             for i in s.instances}) >= 2 for s in samples)
    assert multi_class >= 40
    size = STATS['image_size']
    extents = []
    for s in samples:
        for inst in s.instances:
            xmin, ymin, xmax, ymax = inst.bbox
            extents.append(max(xmax - xmin + 1, ymax - ymin + 1) / size)
    extents = np.array(extents)
    assert extents.max() <= 0.6
    assert (extents < 0.25).sum() >= 20 and (extents > 0.4).sum() >= 20


def test_occlusion_masks_are_visible_pixels(samples):
    occluded = 0
    for sample in samples:
        union = np.zeros(sample.gt.shape, int)
        for inst in sample.instances:
            union += inst.mask
            # At least half of the silhouette stays visible.
            assert inst.mask.sum() >= 0.5 * inst.full_area - 1
            assert not (inst.part_mask & ~inst.mask).any()
            occluded += inst.occluded
        assert union.max() <= 1  # visible masks are disjoint
        np.testing.assert_array_equal(union > 0, sample.gt != 0)
    assert occluded >= 5


def test_discriminative_part(samples):
    fractions = {c: [] for c in range(1, 6)}
    part_chroma, body_chroma = [], []
    for sample in samples:
        img = sample.img.astype(np.float32)
        chroma = img.max(-1) - img.min(-1)
        for inst in sample.instances:
            if inst.full_area < 100:
                continue
            fractions[inst.class_index].append(inst.part_area /
                                               inst.full_area)
            body = inst.mask & ~inst.part_mask
            if inst.part_mask.sum() >= 10 and body.sum() >= 10:
                part_chroma.append(chroma[inst.part_mask].mean())
                body_chroma.append(chroma[body].mean())
    for class_index, values in fractions.items():
        assert len(values) >= 10, class_index
        assert 0.08 <= min(values) and max(values) <= 0.4, class_index
        assert 0.1 <= np.mean(values) <= 0.25, class_index
    # Parts are vivid, bodies are muted.
    assert np.mean(part_chroma) > np.mean(body_chroma) + 40


def test_saliency_is_imperfect(samples, dataset):
    ious, missed, false_pos = [], 0, 0
    for sample in samples:
        sal = sample.saliency > 127
        fg = sample.gt != 0
        if fg.any():
            ious.append((sal & fg).sum() / (sal | fg).sum())
        for inst in sample.instances:
            missed += sample.saliency[inst.mask].max() < 40
        far_from_fg = syn._erode(~fg, 3)
        false_pos += (sal & far_from_fg).sum() > 20
    assert 0.4 < np.mean(ious) < 0.95
    assert missed >= 0.1 * sum(len(s.instances) for s in samples)
    assert false_pos >= 0.15 * len(samples)
    png = Image.open(osp.join(dataset, 'SaliencyImages', 'syn_000001.png'))
    assert png.mode == 'L'
    np.testing.assert_array_equal(np.asarray(png), _small_sample(1).saliency)


def test_scribbles_and_points_carry_gt_labels(dataset):
    for index in range(NUM_IMAGES):
        sample = _small_sample(index)
        gt = np.asarray(
            Image.open(
                osp.join(dataset, 'SegmentationClass',
                         f'{sample.img_id}.png')))
        for sub, expected in (('Scribbles', sample.scribbles),
                              ('Points', sample.points)):
            png = Image.open(osp.join(dataset, sub, f'{sample.img_id}.png'))
            assert png.mode == 'P'
            labels = np.asarray(png)
            np.testing.assert_array_equal(labels, expected)
            labelled = labels != 255
            assert labelled.any()
            np.testing.assert_array_equal(labels[labelled], gt[labelled])
        # Every object gets scribbles and exactly one point inside it.
        for k, inst in enumerate(sample.instances):
            in_obj = sample.instance_map == k + 1
            assert (sample.scribbles[in_obj] == inst.class_index).any()
            # Strokes are thin: they cover a small part of the object.
            assert (sample.scribbles[in_obj] != 255).sum() <= \
                max(0.5 * in_obj.sum(), 12)
            assert (sample.points[in_obj] != 255).sum() == 1
        point_bg = (sample.points == 0).sum()
        assert 1 <= point_bg <= 2
        assert (sample.scribbles == 0).any()
        n_fg_points = ((sample.points != 255) & (sample.points != 0)).sum()
        assert n_fg_points == len(sample.instances)


def test_points_are_away_from_the_border(samples):
    for sample in samples[:60]:
        for k, inst in enumerate(sample.instances):
            ys, xs = np.nonzero((sample.instance_map == k + 1)
                                & (sample.points != 255))
            dist = syn._distance_map(inst.mask)
            if dist.max() >= 2:
                assert dist[ys[0], xs[0]] >= max(2, dist.max() // 2)


def test_xml_boxes(dataset):
    for index in range(NUM_IMAGES):
        sample = _small_sample(index)
        root = ET.parse(
            osp.join(dataset, 'Annotations', f'{sample.img_id}.xml')).getroot()
        assert root.tag == 'annotation'
        assert root.findtext('filename') == f'{sample.img_id}.jpg'
        assert root.findtext('size/width') == '64'
        assert root.findtext('size/height') == '64'
        assert root.findtext('size/depth') == '3'
        objects = root.findall('object')
        assert len(objects) == len(sample.instances)
        for obj, inst in zip(objects, sample.instances):
            assert obj.findtext('name') == SYNTHETIC_CLASSES[inst.class_index]
            box = [int(obj.findtext(f'bndbox/{k}'))
                   for k in ('xmin', 'ymin', 'xmax', 'ymax')]
            ys, xs = np.nonzero(inst.mask)
            # 1-based, inclusive, tight around the visible pixels.
            assert box == [xs.min() + 1, ys.min() + 1, xs.max() + 1,
                           ys.max() + 1]
            assert 1 <= box[0] <= box[2] <= 64 and 1 <= box[1] <= box[3] <= 64


def test_rerun_does_not_rewrite_and_param_mismatch(tmp_path):
    out_dir = str(tmp_path / 'ds')
    generate_synthetic_wsss(out_dir, **TINY)
    meta = osp.join(out_dir, 'meta.json')
    jpg = osp.join(out_dir, 'JPEGImages', 'syn_000000.jpg')
    stamps = (os.stat(meta).st_mtime_ns, os.stat(jpg).st_mtime_ns,
              os.stat(out_dir).st_ino)
    assert generate_synthetic_wsss(out_dir, **TINY) == out_dir
    assert (os.stat(meta).st_mtime_ns, os.stat(jpg).st_mtime_ns,
            os.stat(out_dir).st_ino) == stamps

    with pytest.raises(ValueError, match='num_val'):
        generate_synthetic_wsss(out_dir, **dict(TINY, num_val=4))
    with pytest.raises(ValueError, match='image_size') as info:
        generate_synthetic_wsss(out_dir, **dict(TINY, image_size=40))
    assert 'num_val' not in str(info.value)
    assert os.stat(meta).st_mtime_ns == stamps[0]

    generate_synthetic_wsss(
        out_dir, **dict(TINY, num_val=4), overwrite=True)
    with open(meta) as f:
        assert json.load(f)['splits']['val']['num_images'] == 4
    assert len(os.listdir(osp.join(out_dir, 'JPEGImages'))) == 10
    assert not _leftovers(str(tmp_path))


def test_existing_foreign_directory(tmp_path):
    out_dir = tmp_path / 'ds'
    out_dir.mkdir()
    generate_synthetic_wsss(str(out_dir), **TINY)  # empty dir is fine
    assert (out_dir / 'meta.json').is_file()
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'notes.txt').write_text('keep me')
    with pytest.raises(ValueError, match='meta.json'):
        generate_synthetic_wsss(str(other), **TINY)
    assert (other / 'notes.txt').read_text() == 'keep me'


def test_failure_leaves_no_partial_output(tmp_path, monkeypatch):
    calls = []
    original = syn._write_sample

    def flaky_write(sample, root):
        calls.append(sample.img_id)
        if len(calls) == 5:
            raise RuntimeError('killed midway')
        original(sample, root)

    monkeypatch.setattr(syn, '_write_sample', flaky_write)
    out_dir = tmp_path / 'ds'
    with pytest.raises(RuntimeError, match='killed midway'):
        generate_synthetic_wsss(str(out_dir), **SMALL)
    assert not out_dir.exists()
    assert os.listdir(tmp_path) == []


def _generate_in_child(out_dir):
    return generate_synthetic_wsss(
        out_dir, num_train=12, num_val=6, image_size=32, seed=5)


def test_concurrent_callers(tmp_path):
    out_dir = str(tmp_path / 'shared')
    ctx = multiprocessing.get_context('fork')
    with ctx.Pool(3) as pool:
        results = pool.map(_generate_in_child, [out_dir] * 3)
    assert results == [out_dir] * 3
    assert os.listdir(tmp_path) == ['shared']
    reference = _generate_in_child(str(tmp_path / 'reference'))
    assert _sha256_tree(out_dir) == _sha256_tree(reference)


@pytest.mark.parametrize('winner_seed', [TINY['seed'], TINY['seed'] + 1])
def test_losing_the_rename_race(tmp_path, monkeypatch, winner_seed):
    """Another process publishes out_dir while this one is generating."""
    out_dir = str(tmp_path / 'ds')
    reference = _sha256_tree(
        generate_synthetic_wsss(str(tmp_path / 'ref'), **TINY))
    original = syn._generate_into

    def generate_then_lose(root, params):
        meta = original(root, params)
        monkeypatch.setattr(syn, '_generate_into', original)
        generate_synthetic_wsss(out_dir, **dict(TINY, seed=winner_seed))
        return meta

    monkeypatch.setattr(syn, '_generate_into', generate_then_lose)
    if winner_seed == TINY['seed']:
        assert generate_synthetic_wsss(out_dir, **TINY) == out_dir
        assert _sha256_tree(out_dir) == reference
    else:
        with pytest.raises(ValueError, match='seed'):
            generate_synthetic_wsss(out_dir, **TINY)
        with open(osp.join(out_dir, 'meta.json')) as f:
            assert json.load(f)['seed'] == winner_seed
    assert not _leftovers(str(tmp_path))


@pytest.mark.parametrize('kwargs', [
    dict(num_train=0),
    dict(num_val=0),
    dict(image_size=16),
    dict(seed=-1),
    dict(num_train=2.5),
])
def test_invalid_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate_synthetic_wsss(str(tmp_path / 'ds'), **kwargs)
    assert not (tmp_path / 'ds').exists()


def test_tiny_splits_still_have_every_class(tmp_path):
    out_dir = generate_synthetic_wsss(
        str(tmp_path / 'ds'), num_train=5, num_val=3, image_size=48)
    with open(osp.join(out_dir, 'meta.json')) as f:
        meta = json.load(f)
    for split in ('train', 'val'):
        counts = meta['splits'][split]['class_image_counts']
        assert all(v > 0 for v in counts.values()), (split, counts)


def test_read_by_mmseg_dataset(dataset):
    from mmseg.datasets import BaseSegDataset
    from mmseg.datasets.transforms import LoadAnnotations
    ds = BaseSegDataset(
        data_root=dataset,
        ann_file='ImageSets/Segmentation/val.txt',
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClass'),
        img_suffix='.jpg',
        seg_map_suffix='.png',
        metainfo=dict(classes=SYNTHETIC_CLASSES, palette=SYNTHETIC_PALETTE),
        pipeline=[])
    assert len(ds) == 16
    info = ds[0]
    assert info['img_path'].endswith('syn_000040.jpg')
    results = LoadAnnotations()(dict(info))
    np.testing.assert_array_equal(results['gt_seg_map'],
                                  _small_sample(40).gt)


def test_tool(tmp_path):
    """tools/misc/make_synthetic_dataset.py's main(argv) in this process
    (its run as a user runs it is in tests/test_tools/test_scripts.py)."""
    out_dir = str(tmp_path / 'ds')
    args = [
        out_dir, '--num-train', '10', '--num-val', '5', '--image-size', '32'
    ]
    code, out = run_tool('misc/make_synthetic_dataset.py',
                         args + ['--seed', '1'])
    assert code == 0
    assert 'train: 10 images' in out
    assert 'val: 5 images' in out
    assert 'boat=' in out
    assert out_dir in out
    assert len(os.listdir(osp.join(out_dir, 'JPEGImages'))) == 15
    # another seed into the same folder: refused, naming the key
    code, out = run_tool('misc/make_synthetic_dataset.py',
                         args + ['--seed', '2'], check=False)
    assert code == 1
    assert out.startswith('error: ') and 'seed' in out, out
