# Copyright (c) OpenMMLab. All rights reserved.
"""Tests of the COCO 2014 81-class semantic conversion.

A tiny fake COCO (3 images, real category list) is built under ``tmp_path``;
nothing outside the repository and ``tmp_path`` is read.
"""
import copy
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
# pycocotools is a hard dependency: without it these tests fail
import pycocotools.mask  # noqa: F401
import pytest
from PIL import Image

from mmwsss.datasets.coco_utils import (COCO_CATEGORY_IDS, COCO_CLASSES,
                                        COCO_PALETTE, annotation_to_mask,
                                        build_coco_index, color_map,
                                        coco_category_to_label,
                                        instances_to_semantic,
                                        semantic_to_image_labels)

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
SCRIPT = osp.join(REPO_ROOT, 'tools', 'dataset_converters',
                  'coco2014_semantic.py')

# The real COCO 2014 category ids and names, hard-coded independently of
# the module under test.
REAL_CATEGORIES = [
    (1, 'person'), (2, 'bicycle'), (3, 'car'), (4, 'motorcycle'),
    (5, 'airplane'), (6, 'bus'), (7, 'train'), (8, 'truck'), (9, 'boat'),
    (10, 'traffic light'), (11, 'fire hydrant'), (13, 'stop sign'),
    (14, 'parking meter'), (15, 'bench'), (16, 'bird'), (17, 'cat'),
    (18, 'dog'), (19, 'horse'), (20, 'sheep'), (21, 'cow'), (22, 'elephant'),
    (23, 'bear'), (24, 'zebra'), (25, 'giraffe'), (27, 'backpack'),
    (28, 'umbrella'), (31, 'handbag'), (32, 'tie'), (33, 'suitcase'),
    (34, 'frisbee'), (35, 'skis'), (36, 'snowboard'), (37, 'sports ball'),
    (38, 'kite'), (39, 'baseball bat'), (40, 'baseball glove'),
    (41, 'skateboard'), (42, 'surfboard'), (43, 'tennis racket'),
    (44, 'bottle'), (46, 'wine glass'), (47, 'cup'), (48, 'fork'),
    (49, 'knife'), (50, 'spoon'), (51, 'bowl'), (52, 'banana'), (53, 'apple'),
    (54, 'sandwich'), (55, 'orange'), (56, 'broccoli'), (57, 'carrot'),
    (58, 'hot dog'), (59, 'pizza'), (60, 'donut'), (61, 'cake'),
    (62, 'chair'), (63, 'couch'), (64, 'potted plant'), (65, 'bed'),
    (67, 'dining table'), (70, 'toilet'), (72, 'tv'), (73, 'laptop'),
    (74, 'mouse'), (75, 'remote'), (76, 'keyboard'), (77, 'cell phone'),
    (78, 'microwave'), (79, 'oven'), (80, 'toaster'), (81, 'sink'),
    (82, 'refrigerator'), (84, 'book'), (85, 'clock'), (86, 'vase'),
    (87, 'scissors'), (88, 'teddy bear'), (89, 'hair drier'),
    (90, 'toothbrush')
]

# Labels of the categories used below.
PERSON, STOP_SIGN, DOG, TOOTHBRUSH = 1, 12, 17, 80


def real_categories():
    """The ``categories`` list of a real COCO 2014 instances JSON."""
    # Shuffled on purpose: the mapping must sort by id.
    cats = [dict(id=i, name=n, supercategory='x') for i, n in REAL_CATEGORIES]
    return cats[40:] + cats[:40]


def uncompressed_rle(mask):
    """Hand-made uncompressed RLE (column-major, starts with zeros)."""
    flat = np.asarray(mask, dtype=np.uint8).flatten(order='F')
    counts, cur, run = [], 0, 0
    for v in flat:
        if v == cur:
            run += 1
        else:
            counts.append(run)
            cur, run = v, 1
    counts.append(run)
    return {'size': list(mask.shape), 'counts': counts}


def compressed_rle(mask):
    """Compressed RLE with a JSON-serialisable string ``counts``."""
    from pycocotools import mask as mask_utils
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {'size': list(mask.shape), 'counts': rle['counts'].decode()}


def fake_coco():
    """A 3-image instances JSON.

    * image 9 (30x40): a small 'stop sign' square listed before a large
      overlapping 'person' square, plus a 'toothbrush' as uncompressed RLE;
    * image 25 (20x24): a 'dog' square and a 'person' crowd region as
      compressed RLE that overlaps the dog;
    * image 30 (16x16): no annotation.
    """
    toothbrush = np.zeros((30, 40), dtype=bool)
    toothbrush[26:29, 30:38] = True
    crowd = np.zeros((20, 24), dtype=bool)
    crowd[:, 8:] = True
    images = [
        dict(id=9, file_name='COCO_train2014_000000000009.jpg', height=30,
             width=40),
        dict(id=25, file_name='COCO_train2014_000000000025.jpg', height=20,
             width=24),
        dict(id=30, file_name='COCO_train2014_000000000030.jpg', height=16,
             width=16),
    ]
    anns = [
        dict(id=1, image_id=9, category_id=13, iscrowd=0, area=100.0,
             segmentation=[[15, 10, 25, 10, 25, 20, 15, 20]]),
        dict(id=2, image_id=9, category_id=1, iscrowd=0, area=600.0,
             segmentation=[[5, 5, 35, 5, 35, 25, 5, 25]]),
        dict(id=3, image_id=9, category_id=90, iscrowd=0, area=24.0,
             segmentation=uncompressed_rle(toothbrush)),
        dict(id=4, image_id=25, category_id=18, iscrowd=0, area=100.0,
             segmentation=[[2, 2, 12, 2, 12, 12, 2, 12]]),
        dict(id=5, image_id=25, category_id=1, iscrowd=1, area=320.0,
             segmentation=compressed_rle(crowd)),
    ]
    return dict(images=images, annotations=anns,
                categories=real_categories())


def make_coco_root(root, split='train2014'):
    """Write the fake COCO (JSON + JPEGs) under ``root``."""
    coco = fake_coco()
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    with open(osp.join(root, 'annotations', f'instances_{split}.json'),
              'w') as f:
        json.dump(coco, f)
    os.makedirs(osp.join(root, split), exist_ok=True)
    for img in coco['images']:
        Image.new('RGB', (img['width'], img['height']),
                  (120, 80, 40)).save(
                      osp.join(root, split, img['file_name']), 'JPEG')
    return coco


def load_converter():
    name = 'coco2014_semantic_under_test'
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        module = importlib.util.module_from_spec(spec)
        # Registered so that worker processes can unpickle its functions.
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# ---------------------------------------------------------------- metadata


def test_classes_and_palette():
    assert len(COCO_CLASSES) == 81
    assert COCO_CLASSES[0] == 'background'
    assert COCO_CLASSES[1] == 'person'
    assert COCO_CLASSES[-1] == 'toothbrush'
    assert list(zip(COCO_CATEGORY_IDS, COCO_CLASSES[1:])) == REAL_CATEGORIES
    assert len(COCO_PALETTE) == 81
    # The classic VOC colours.
    assert COCO_PALETTE[0] == (0, 0, 0)
    assert COCO_PALETTE[1] == (128, 0, 0)
    assert COCO_PALETTE[2] == (0, 128, 0)
    assert COCO_PALETTE[3] == (128, 128, 0)
    assert COCO_PALETTE[15] == (192, 128, 128)
    assert color_map(256)[255] == (224, 224, 192)
    assert len(set(COCO_PALETTE)) == 81
    assert list(COCO_PALETTE) == color_map(256)[:81]


def test_category_to_label():
    mapping = coco_category_to_label(real_categories())
    assert len(mapping) == 80
    assert mapping[1] == PERSON
    assert mapping[13] == STOP_SIGN
    assert mapping[18] == DOG
    assert mapping[90] == TOOTHBRUSH
    assert sorted(mapping.values()) == list(range(1, 81))
    for cid, name in REAL_CATEGORIES:
        assert COCO_CLASSES[mapping[cid]] == name


def test_category_to_label_strict():
    cats = real_categories()
    missing = [c for c in cats if c['name'] != 'stop sign']
    with pytest.raises(ValueError, match='stop sign'):
        coco_category_to_label(missing)
    renamed = copy.deepcopy(cats)
    next(c for c in renamed if c['id'] == 13)['name'] = 'stop-sign'
    with pytest.raises(ValueError) as e:
        coco_category_to_label(renamed)
    assert "'stop sign'" in str(e.value) and "'stop-sign'" in str(e.value)
    # Non-strict: any category list, sorted by id.
    assert coco_category_to_label(missing, strict=False)[14] == 12
    assert coco_category_to_label(
        [dict(id=7, name='b'), dict(id=3, name='a')],
        strict=False) == {3: 1, 7: 2}
    # Standard names in a non-standard id order are rejected.
    swapped = copy.deepcopy(cats)
    for c in swapped:
        if c['id'] in (1, 2):
            c['id'] = 3 - c['id']
    with pytest.raises(ValueError, match='order'):
        coco_category_to_label(swapped)
    with pytest.raises(ValueError, match='duplicated'):
        coco_category_to_label(cats + [dict(id=1, name='person')],
                               strict=False)


# ---------------------------------------------------------------- masks


def test_annotation_to_mask_rle_formats():
    expected = np.zeros((4, 5), dtype=bool)
    expected[1:3, 1:4] = True
    # Hand-made compressed RLE string of ``expected`` (counts
    # [5, 2, 2, 2, 2, 2, 5] in column-major order), as str and as bytes.
    for counts in ('5220003', b'5220003'):
        mask = annotation_to_mask({'size': [4, 5], 'counts': counts}, 4, 5)
        np.testing.assert_array_equal(mask, expected)
    # Hand-made uncompressed RLE.
    unc = {'size': [4, 5], 'counts': [5, 2, 2, 2, 2, 2, 5]}
    np.testing.assert_array_equal(annotation_to_mask(unc, 4, 5), expected)
    assert uncompressed_rle(expected) == unc
    with pytest.raises(ValueError, match='size'):
        annotation_to_mask(unc, 5, 4)


def test_annotation_to_mask_polygons():
    mask = annotation_to_mask([[1, 1, 4, 1, 4, 3, 1, 3]], 6, 6)
    assert mask.dtype == bool and mask.shape == (6, 6)
    assert mask[2, 2] and not mask[5, 5] and not mask[0, 0]
    # Union of two polygons; a 2-point "polygon" is ignored (pycocotools
    # would read 4 numbers as a bbox).
    mask2 = annotation_to_mask(
        [[1, 1, 4, 1, 4, 3, 1, 3], [0, 5, 5, 5]], 6, 6)
    np.testing.assert_array_equal(mask2, mask)
    assert not annotation_to_mask([[0, 5, 5, 5]], 6, 6).any()
    assert not annotation_to_mask([], 6, 6).any()


def test_instances_to_semantic_overlap_and_rle():
    coco = fake_coco()
    seg = instances_to_semantic(coco, 9)
    assert seg.dtype == np.uint8 and seg.shape == (30, 40)
    assert seg[2, 2] == 0  # background
    assert seg[7, 7] == PERSON  # large polygon
    # The smaller stop sign is listed first but stays on top.
    assert seg[15, 20] == STOP_SIGN
    assert seg[11, 16] == STOP_SIGN and seg[18, 23] == STOP_SIGN
    # Uncompressed RLE, exact extent.
    assert (seg[26:29, 30:38] == TOOTHBRUSH).all()
    assert seg[25, 33] != TOOTHBRUSH and seg[27, 29] != TOOTHBRUSH
    assert seg[29, 33] == 0 and seg[27, 38] == 0
    assert set(np.unique(seg)) == {0, PERSON, STOP_SIGN, TOOTHBRUSH}
    # Same result with a prebuilt index and with the order of the file
    # reversed (drawing depends on area, not file order).
    index = build_coco_index(coco)
    np.testing.assert_array_equal(
        instances_to_semantic(coco, 9, index=index), seg)
    coco['annotations'] = coco['annotations'][::-1]
    np.testing.assert_array_equal(instances_to_semantic(coco, 9), seg)


def test_instances_to_semantic_crowd():
    coco = fake_coco()
    seg = instances_to_semantic(coco, 25)
    assert seg.shape == (20, 24)
    assert seg[5, 5] == DOG
    assert seg[5, 10] == DOG  # dog pixel inside the crowd region
    assert seg[5, 15] == 255  # crowd only
    assert seg[15, 15] == 255
    assert (seg[:, 13:] == 255).all()
    assert seg[15, 5] == 0
    assert set(np.unique(seg)) == {0, DOG, 255}
    seg2 = instances_to_semantic(coco, 25, crowd_as_ignore=False)
    assert seg2[5, 15] == PERSON and seg2[15, 15] == PERSON
    assert seg2[5, 10] == DOG  # crowds never cover non-crowd instances
    assert seg2[5, 5] == DOG and seg2[15, 5] == 0
    assert set(np.unique(seg2)) == {0, PERSON, DOG}


def test_instances_to_semantic_no_annotation_and_errors():
    coco = fake_coco()
    seg = instances_to_semantic(coco, 30)
    assert seg.shape == (16, 16) and seg.dtype == np.uint8
    assert not seg.any()
    with pytest.raises(KeyError, match='12345'):
        instances_to_semantic(coco, 12345)
    coco['annotations'][0]['category_id'] = 12
    with pytest.raises(ValueError, match='category id 12'):
        instances_to_semantic(coco, 9)


def test_semantic_to_image_labels():
    coco = fake_coco()
    labels = semantic_to_image_labels(instances_to_semantic(coco, 9))
    assert labels.dtype == np.float32 and labels.shape == (80, )
    assert np.flatnonzero(labels).tolist() == [0, 11, 79]
    assert labels.sum() == 3
    # The crowd 'person' is ignored (255), only the dog remains.
    labels = semantic_to_image_labels(instances_to_semantic(coco, 25))
    assert np.flatnonzero(labels).tolist() == [DOG - 1]
    labels = semantic_to_image_labels(
        instances_to_semantic(coco, 25, crowd_as_ignore=False))
    assert np.flatnonzero(labels).tolist() == [PERSON - 1, DOG - 1]
    assert not semantic_to_image_labels(np.zeros((3, 3), np.uint8)).any()
    assert not semantic_to_image_labels(np.full((3, 3), 255,
                                                np.uint8)).any()
    small = semantic_to_image_labels(np.array([[0, 2], [3, 255]]),
                                     num_classes=4)
    np.testing.assert_array_equal(small, [0, 1, 1])
    with pytest.raises(ValueError, match='81'):
        semantic_to_image_labels(np.array([[81]], np.uint8))


# ---------------------------------------------------------------- converter

STEMS = [
    'COCO_train2014_000000000009', 'COCO_train2014_000000000025',
    'COCO_train2014_000000000030'
]


def check_outputs(root, coco, crowd_as_ignore=True):
    """Check PNGs, split list and cls labels against the module API."""
    png_dir = osp.join(root, 'SegmentationClass81', 'train2014')
    assert sorted(os.listdir(png_dir)) == [f'{s}.png' for s in STEMS]
    with open(osp.join(root, 'ImageSets', 'train2014.txt')) as f:
        assert f.read().splitlines() == STEMS
    cls_labels = np.load(
        osp.join(root, 'cls_labels_train2014.npy'), allow_pickle=True).item()
    assert isinstance(cls_labels, dict)
    assert sorted(cls_labels) == STEMS
    palette = [v for rgb in COCO_PALETTE for v in rgb]
    for img in coco['images']:
        stem = osp.splitext(img['file_name'])[0]
        with Image.open(osp.join(png_dir, f'{stem}.png')) as im:
            assert im.mode == 'P'
            assert im.getpalette()[:len(palette)] == palette
            seg = np.array(im)
        expected = instances_to_semantic(
            coco, img['id'], crowd_as_ignore=crowd_as_ignore)
        np.testing.assert_array_equal(seg, expected)
        assert cls_labels[stem].dtype == np.float32
        assert cls_labels[stem].shape == (80, )
        np.testing.assert_array_equal(cls_labels[stem],
                                      semantic_to_image_labels(expected))
    # Exact values of the round trip.
    assert np.flatnonzero(cls_labels[STEMS[0]]).tolist() == [0, 11, 79]
    assert np.flatnonzero(cls_labels[STEMS[1]]).tolist() == (
        [16] if crowd_as_ignore else [0, 16])
    assert not cls_labels[STEMS[2]].any()
    # Atomic writes leave no temporary file behind.
    for dirpath, _, files in os.walk(root):
        assert not [f for f in files if f.endswith('.tmp')], dirpath
    return cls_labels


def test_converter_end_to_end_and_rerun(tmp_path, capsys):
    conv = load_converter()
    root = str(tmp_path / 'coco')
    coco = make_coco_root(root)
    conv.main([root, '--splits', 'train2014', '--check-images'])
    out = capsys.readouterr().out
    assert 'wrote 3 PNGs' in out and 'skipped 0 existing' in out
    check_outputs(root, coco)

    # A rerun skips every PNG. An existing PNG is kept as it is (here
    # replaced by a blank map), and its image labels are read back from it.
    png_dir = osp.join(root, 'SegmentationClass81', 'train2014')
    first = osp.join(png_dir, f'{STEMS[0]}.png')
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(first)
    os.remove(osp.join(png_dir, f'{STEMS[1]}.png'))
    conv.main([root, '--splits', 'train2014'])
    out = capsys.readouterr().out
    assert 'wrote 1 PNGs' in out and 'skipped 2 existing PNGs' in out
    assert not np.array(Image.open(first)).any()
    cls_labels = np.load(
        osp.join(root, 'cls_labels_train2014.npy'), allow_pickle=True).item()
    assert not cls_labels[STEMS[0]].any()
    assert np.flatnonzero(cls_labels[STEMS[1]]).tolist() == [16]

    conv.main([root, '--splits', 'train2014'])
    assert 'skipped 3 existing PNGs' in capsys.readouterr().out


def test_converter_options(tmp_path):
    conv = load_converter()
    root = str(tmp_path / 'coco')
    coco = make_coco_root(root)
    stats = conv.convert_split(
        root, 'train2014', nproc=2, crowd_as_ignore=False)
    assert stats == dict(
        images=3, written=3, skipped=0, unannotated_excluded=0)
    check_outputs(root, coco, crowd_as_ignore=False)

    out_dir = str(tmp_path / 'elsewhere')
    conv.main([root, '--splits', 'train2014', '--out-dir', out_dir])
    assert sorted(os.listdir(osp.join(out_dir, 'train2014'))) == [
        f'{s}.png' for s in STEMS
    ]


def test_converter_skip_unannotated(tmp_path):
    conv = load_converter()
    root = str(tmp_path / 'coco')
    make_coco_root(root)
    stats = conv.convert_split(root, 'train2014', skip_unannotated=True)
    assert stats == dict(
        images=2, written=2, skipped=0, unannotated_excluded=1)
    with open(osp.join(root, 'ImageSets', 'train2014.txt')) as f:
        assert f.read().splitlines() == STEMS[:2]
    cls_labels = np.load(
        osp.join(root, 'cls_labels_train2014.npy'), allow_pickle=True).item()
    assert sorted(cls_labels) == STEMS[:2]
    assert sorted(os.listdir(
        osp.join(root, 'SegmentationClass81', 'train2014'))) == [
            f'{s}.png' for s in STEMS[:2]
        ]


def test_converter_check_images(tmp_path):
    conv = load_converter()
    root = str(tmp_path / 'coco')
    make_coco_root(root)
    Image.new('RGB', (5, 5)).save(
        osp.join(root, 'train2014', f'{STEMS[2]}.jpg'), 'JPEG')
    with pytest.raises(ValueError, match='5x5'):
        conv.main([root, '--splits', 'train2014', '--check-images'])
    os.remove(osp.join(root, 'train2014', f'{STEMS[2]}.jpg'))
    with pytest.raises(FileNotFoundError, match=STEMS[2]):
        conv.main([root, '--splits', 'train2014', '--check-images'])


def test_converter_missing_annotation_file(tmp_path):
    conv = load_converter()
    root = str(tmp_path / 'coco')
    make_coco_root(root)
    missing = osp.join(root, 'annotations', 'instances_val2014.json')
    # Checked before any split is converted.
    with pytest.raises(FileNotFoundError) as e:
        conv.main([root, '--splits', 'train2014', 'val2014'])
    assert missing in str(e.value)
    assert not osp.exists(osp.join(root, 'SegmentationClass81'))
    with pytest.raises(FileNotFoundError) as e:
        conv.convert_split(root, 'val2014')
    assert missing in str(e.value)


@pytest.mark.slow
def test_converter_cli(tmp_path):
    """The smoke test of the script as a user runs it (the conversion and
    its errors are tested in this process above)."""
    root = str(tmp_path / 'coco')
    coco = make_coco_root(root)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO_ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
    proc = subprocess.run(
        [sys.executable, SCRIPT, root, '--splits', 'train2014'],
        cwd=str(tmp_path), env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    check_outputs(root, coco)
