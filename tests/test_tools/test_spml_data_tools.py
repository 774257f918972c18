# Copyright (c) OpenMMLab. All rights reserved.
"""SPML's data tools, run in this process (their ``main(argv)``):
``tools/dataset_converters/oversegment.py`` and
``tools/dataset_converters/masks_to_points_boxes.py``."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmwsss.datasets import LoadBoxWeakLabel, LoadPointWeakLabel
from mmwsss.utils.oversegment import decode_region_png

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'tools', 'dataset_converters')


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'{name}_tool', osp.join(TOOLS, name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def overseg():
    return _load_tool('oversegment')


@pytest.fixture(scope='module')
def points_boxes():
    return _load_tool('masks_to_points_boxes')


def _two_colour(path, h=24, w=32, split=13):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :split] = (30, 60, 200)
    img[:, split:] = (220, 200, 20)
    Image.fromarray(img).save(path)


def _regions(path):
    with open(path, 'rb') as f:
        return decode_region_png(f.read(), str(path))


def test_oversegment_folder_two_colours_and_resume(overseg, tmp_path):
    img_dir, out = tmp_path / 'img', tmp_path / 'regions'
    img_dir.mkdir()
    _two_colour(img_dir / 'a.png')  # lossless: the edge is exact
    _two_colour(img_dir / 'b.png', split=20)
    overseg.main([str(img_dir), str(out), '--suffix', '.png'])
    assert sorted(os.listdir(out)) == ['a.png', 'b.png',
                                       'oversegment_meta.json']
    for name, split in (('a', 13), ('b', 20)):
        regions = _regions(out / f'{name}.png')
        assert regions.shape == (24, 32)
        # two colours, two regions, split at the colour edge
        assert sorted(np.unique(regions)) == [0, 1]
        assert (regions[:, :split] == regions[0, 0]).all()
        assert (regions[:, split:] == regions[0, -1]).all()
    meta = json.loads((out / 'oversegment_meta.json').read_text())
    assert meta['algorithm'] == 'felzenszwalb' and meta['complete']
    assert meta['params'] == dict(scale=300., sigma=0.8, min_size=100)
    assert meta['regions_this_run'] == dict(min=2, max=2, mean=2.0)
    # rerun: existing maps are skipped (not rewritten), a new image is done
    stamp = os.stat(out / 'a.png').st_mtime_ns
    _two_colour(img_dir / 'c.png', split=5)
    overseg.main([str(img_dir), str(out), '--suffix', '.png'])
    assert os.stat(out / 'a.png').st_mtime_ns == stamp
    meta = json.loads((out / 'oversegment_meta.json').read_text())
    assert (meta['computed_this_run'], meta['count']) == (1, 3)
    # other settings into the same folder are refused
    with pytest.raises(SystemExit, match='slic'):
        overseg.main([str(img_dir), str(out), '--suffix', '.png',
                      '--algorithm', 'slic'])
    with pytest.raises(SystemExit, match='min-size'):
        overseg.main([str(img_dir), str(out), '--suffix', '.png',
                      '--algorithm', 'slic', '--min-size', '5'])
    # slic into another folder, with its own parameters
    overseg.main([str(img_dir), str(tmp_path / 'slic'), '--suffix', '.png',
                  '--algorithm', 'slic', '--n-segments', '4', '--list',
                  str(_id_list(tmp_path, ['a']))])
    assert sorted(os.listdir(tmp_path / 'slic')) == [
        'a.png', 'oversegment_meta.json'
    ]
    regions = _regions(tmp_path / 'slic' / 'a.png')
    assert regions.min() == 0 and 1 <= regions.max() < 8


def _id_list(tmp_path, ids):
    path = tmp_path / 'ids.txt'
    path.write_text(''.join(f'{i}\n' for i in ids))
    return path


def test_oversegment_from_config(overseg, tmp_path):
    root = tmp_path / 'data'
    (root / 'images').mkdir(parents=True)
    _two_colour(root / 'images' / 'a.jpg')
    (root / 'labels.txt').write_text('a 1\n')
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        "custom_imports = dict(imports=['mmwsss'])\n"
        "default_scope = 'mmseg'\n"
        'train_dataloader = dict(dataset=dict(type="WSSSFolderDataset", '
        f'data_root={str(root)!r}, data_prefix=dict(img_path="images"), '
        'metainfo=dict(classes=("background", "cat")), pipeline=[]))\n')
    overseg.main([str(cfg), str(tmp_path / 'out')])
    assert sorted(np.unique(_regions(tmp_path / 'out' / 'a.png'))) == [0, 1]


def test_masks_to_points_boxes(points_boxes, tmp_path):
    root, out = tmp_path / 'msrc', tmp_path / 'weak'
    (root / 'SegmentationClass').mkdir(parents=True)
    mask = np.zeros((12, 16), np.uint8)
    mask[2:7, 1:6] = 8  # cat, 5x5
    mask[4:11, 9:15] = 12  # dog, 7x6
    mask[0, 15] = 12  # a speck below --min-area: nothing
    mask[11, :] = 255  # void: nothing
    Image.fromarray(mask).save(root / 'SegmentationClass' / 'a.png')
    args = [str(root), str(out), '--min-area', '4', '--seed', '3']
    points_boxes.main(args)
    xml = (out / 'Annotations' / 'a.xml').read_bytes()
    png = (out / 'Points' / 'a.png').read_bytes()
    # the boxes: one per component, VOC 1-based inclusive
    img = dict(img=np.zeros((12, 16, 3), np.uint8), img_path='a.jpg',
               seg_fields=[])
    voc = LoadBoxWeakLabel(
        points_boxes._class_names('voc'), box_without_cams='box')
    weak = voc(dict(img, box_path=str(out / 'Annotations' / 'a.xml')))
    expected = np.zeros((12, 16), np.uint8)
    expected[2:7, 1:6] = 8
    expected[4:11, 9:15] = 12
    np.testing.assert_array_equal(weak['gt_weak_seg'], expected)
    assert xml.count(b'<object>') == 2
    assert b'<xmin>2</xmin>' in xml and b'<ymax>11</ymax>' in xml
    # the points: one per component (background included), in the inner
    # half of the component
    points = np.asarray(Image.open(out / 'Points' / 'a.png'))
    ys, xs = np.nonzero(points != 255)
    assert sorted(points[ys, xs].tolist()) == [0, 8, 12]
    for y, x in zip(ys, xs):
        comp = points_boxes.components(mask, min_area=4)
        inner = [c for c, m in comp if m[y, x]]
        assert inner == [points[y, x]]
        c = points[y, x]
        m = next(m for k, m in comp if k == c and m[y, x])
        iy, ix = points_boxes.inner_pixels(m)
        assert (y, x) in set(zip(iy.tolist(), ix.tolist()))
    assert points[2:7, 1:6][points[2:7, 1:6] != 255].tolist() == [8]
    # read back as a weak label (radius 1)
    lab = LoadPointWeakLabel(num_classes=21, radius=1)(
        dict(img, point_path=str(out / 'Points' / 'a.png')))['gt_weak_seg']
    assert sorted(np.unique(lab)) == [0, 8, 12, 254]
    # resumable and seeded: a rerun skips; a fresh run writes the same
    stamp = os.stat(out / 'Points' / 'a.png').st_mtime_ns
    points_boxes.main(args)
    assert os.stat(out / 'Points' / 'a.png').st_mtime_ns == stamp
    points_boxes.main([str(root), str(tmp_path / 'again')] + args[2:])
    assert (tmp_path / 'again' / 'Points' / 'a.png').read_bytes() == png
    assert (tmp_path / 'again' / 'Annotations' / 'a.xml').read_bytes() == xml
    with pytest.raises(SystemExit, match='seed'):
        points_boxes.main([str(root), str(out), '--min-area', '4'])
    # an image of another size than its mask is an error naming both
    (root / 'JPEGImages').mkdir()
    Image.fromarray(np.zeros((10, 16, 3), np.uint8)).save(
        root / 'JPEGImages' / 'a.jpg')
    with pytest.raises(SystemExit, match=r'a\.jpg is 16x10.*a\.png'):
        points_boxes.main(args + ['--overwrite'])
