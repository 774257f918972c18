# Copyright (c) OpenMMLab. All rights reserved.
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from mmwsss.datasets import (WSSSFolderDataset, WSSSVOCDataset,
                             class_balanced_subset, load_cls_label_file)
from mmwsss.utils import save_palette_png

# id -> classes present (VOC indices); 2008_000003 is background only
LAYOUT = {
    '2007_000032': [1, 15],
    '2007_000039': [20],
    '2008_000003': [],
    '2008_000008': [13, 15],
}


def _make_voc(root, layout=LAYOUT, split='train'):
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    for name, classes in layout.items():
        Image.fromarray(np.full((8, 10, 3), 100, np.uint8)).save(
            osp.join(root, 'JPEGImages', name + '.jpg'))
        mask = np.zeros((8, 10), np.uint8)
        for i, c in enumerate(classes):
            mask[i * 3:i * 3 + 2, 2:8] = c
        mask[7, :] = 255  # a VOC-like ignore border
        save_palette_png(
            osp.join(root, 'SegmentationClass', name + '.png'), mask)
    with open(osp.join(root, 'ImageSets/Segmentation', split + '.txt'),
              'w') as f:
        f.write('\n'.join(layout) + '\n')
    return root


def _voc(root, **kwargs):
    kwargs.setdefault(
        'data_prefix',
        dict(img_path='JPEGImages', seg_map_path='SegmentationClass'))
    return WSSSVOCDataset(
        data_root=root,
        ann_file='ImageSets/Segmentation/train.txt',
        pipeline=[],
        **kwargs)


def test_labels_from_masks(tmp_path):
    ds = _voc(_make_voc(str(tmp_path)))
    assert ds.label_source_used == 'mask'
    got = {
        osp.basename(d['img_path'])[:-4]: d['img_labels'].tolist()
        for d in ds.load_data_list()
    }
    assert got == LAYOUT
    info = ds.get_data_info(0)
    assert info['gt_score'].shape == (20, )
    assert info['gt_score'][[0, 14]].tolist() == [1.0, 1.0]
    assert info['gt_score'].sum() == 2


@pytest.mark.parametrize('int_keys', [False, True])
def test_labels_from_cls_labels_npy(tmp_path, int_keys):
    root = _make_voc(str(tmp_path))
    table = {}
    for name, classes in LAYOUT.items():
        vec = np.zeros(20, np.float32)
        vec[[c - 1 for c in classes]] = 1
        key = np.int32(int(name.replace('_', ''))) if int_keys else name
        table[key] = vec
    # a different label for one image shows the file wins over the masks
    table[list(table)[1]] = np.eye(20, dtype=np.float32)[4]
    np.save(osp.join(root, 'cls_labels.npy'), table)
    ds = _voc(root)
    assert ds.label_source_used == 'file'
    assert ds.get_data_info(1)['img_labels'].tolist() == [5]
    assert ds.get_data_info(2)['img_labels'].tolist() == []


def test_label_file_of_other_classes_is_an_error(tmp_path):
    root = _make_voc(str(tmp_path))
    np.save(
        osp.join(root, 'cls_labels.npy'),
        {name: np.zeros(80, np.float32)
         for name in LAYOUT})
    with pytest.raises(ValueError, match=r'cls_labels.npy.*length 80.*20'):
        _voc(root)


def test_label_file_missing_entries(tmp_path):
    root = _make_voc(str(tmp_path))
    np.save(
        osp.join(root, 'cls_labels.npy'),
        {'2007_000032': np.zeros(20, np.float32)})
    with pytest.raises(KeyError, match=r'no entry for 3 of 4.*2007_000039'):
        _voc(root)


def test_missing_image_names_the_file(tmp_path):
    root = _make_voc(str(tmp_path))
    os.remove(osp.join(root, 'JPEGImages', '2008_000003.jpg'))
    with pytest.raises(FileNotFoundError, match=r'1 of 4 images.*2008_000003'):
        _voc(root)


def test_unreadable_mask_names_the_file(tmp_path):
    root = _make_voc(str(tmp_path))
    bad = osp.join(root, 'SegmentationClass', '2007_000039.png')
    with open(bad, 'wb') as f:
        f.write(b'not a png')
    with pytest.raises(OSError, match='2007_000039.png'):
        _voc(root)


def test_mask_with_label_outside_classes(tmp_path):
    root = _make_voc(str(tmp_path))
    save_palette_png(
        osp.join(root, 'SegmentationClass', '2007_000039.png'),
        np.full((8, 10), 42, np.uint8))
    with pytest.raises(ValueError, match=r'2007_000039.png has label.*42'):
        _voc(root)


def test_subset_keeps_every_class():
    rng = np.random.default_rng(0)
    labels = [
        np.unique(rng.integers(1, 6, size=rng.integers(0, 3)))
        for _ in range(400)
    ]
    for frac in (1 / 2, 1 / 4, 1 / 8, 1 / 16):
        keep = class_balanced_subset(labels, frac, seed=0)
        assert keep == class_balanced_subset(labels, frac, seed=0)
        for c in range(1, 6):
            n_all = sum(c in lab for lab in labels)
            n_sub = sum(c in labels[i] for i in keep)
            assert n_sub >= np.ceil(frac * n_all)
        # about frac of the images (multi-label images overshoot a little)
        assert frac * 400 <= len(keep) <= 1.6 * frac * 400 + 6
    assert class_balanced_subset(labels, 1 / 4, 0) != \
        class_balanced_subset(labels, 1 / 4, 1)
    with pytest.raises(ValueError):
        class_balanced_subset(labels, 0, 0)


def test_subset_option(tmp_path):
    layout = {f'img_{i:03d}': [1 + i % 3] for i in range(24)}
    root = _make_voc(str(tmp_path), layout)
    ds = _voc(root, subset_fraction=0.25, subset_seed=3)
    assert len(ds) == 6  # ceil(8 / 4) images of each of 3 classes
    counts = np.bincount(
        [d['img_labels'][0] for d in ds.load_data_list()], minlength=4)
    assert counts.tolist() == [0, 2, 2, 2]


def test_folder_dataset(tmp_path):
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    for name in ('a', 'b', 'c'):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(
            img_dir / f'{name}.jpg')
    (tmp_path / 'labels.txt').write_text('a dog person\nb\nc 1\n')
    ds = WSSSFolderDataset(
        data_root=str(tmp_path),
        data_prefix=dict(img_path='images'),
        metainfo=dict(classes=('background', 'cat', 'dog', 'person')),
        pipeline=[])
    got = [d['img_labels'].tolist() for d in ds.load_data_list()]
    assert got == [[2, 3], [], [1]]
    assert ds.get_data_info(0)['gt_score'].tolist() == [0.0, 1.0, 1.0]

    (tmp_path / 'labels.txt').write_text('a horse\nb\nc 1\n')
    with pytest.raises(ValueError, match="unknown class 'horse'"):
        WSSSFolderDataset(
            data_root=str(tmp_path),
            data_prefix=dict(img_path='images'),
            metainfo=dict(classes=('background', 'cat', 'dog', 'person')),
            pipeline=[])
    (tmp_path / 'labels.txt').write_text('a\nb\nc\nd cat\n')
    with pytest.raises(FileNotFoundError, match=r"\['d'\]"):
        WSSSFolderDataset(
            data_root=str(tmp_path),
            data_prefix=dict(img_path='images'),
            metainfo=dict(classes=('background', 'cat')),
            pipeline=[])


def test_load_cls_label_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.npy'):
        load_cls_label_file(str(tmp_path / 'nope.npy'))
    bad = tmp_path / 'bad.npy'
    bad.write_bytes(b'garbage')
    with pytest.raises(ValueError, match='bad.npy'):
        load_cls_label_file(str(bad))


def test_corrupt_mask_at_load_time_names_the_file(tmp_path):
    from mmwsss.datasets import LoadWSSSAnnotations
    bad = tmp_path / 'm.png'
    bad.write_bytes(b'\x89PNG truncated')
    t = LoadWSSSAnnotations()
    with pytest.raises(OSError, match='m.png'):
        t(dict(seg_map_path=str(bad), reduce_zero_label=False,
               seg_fields=[]))
    good = tmp_path / 'g.png'
    save_palette_png(str(good), np.array([[0, 3], [255, 1]], np.uint8))
    out = t(dict(seg_map_path=str(good), reduce_zero_label=False,
                 seg_fields=[]))
    assert out['gt_seg_map'].tolist() == [[0, 3], [255, 1]]


def _pseudo_dir(root, ids):
    pseudo = osp.join(root, 'pseudo')
    os.makedirs(pseudo, exist_ok=True)
    for i, name in enumerate(ids):
        mask = np.full((8, 10), i, np.uint8)
        mask[0, 0] = 255
        save_palette_png(osp.join(pseudo, name + '.png'), mask)
    return pseudo


def test_pseudo_masks_are_the_seg_map_folder(tmp_path):
    """Stage 3: the pseudo masks are simply data_prefix.seg_map_path; an
    absolute folder is used as is (not joined with data_root)."""
    root = _make_voc(str(tmp_path))
    pseudo = _pseudo_dir(str(tmp_path / 'elsewhere'), list(LAYOUT))
    init_default_scope('mmseg')  # mmseg's LoadAnnotations
    ds = WSSSVOCDataset(
        data_root=root,
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo),
        label_source='none',
        pipeline=[dict(type='LoadAnnotations')])
    assert ds.label_source_used == 'none'
    for i, name in enumerate(LAYOUT):
        info = ds.get_data_info(i)
        assert info['seg_map_path'] == osp.join(pseudo, name + '.png')
        assert 'img_labels' not in info
        seg = ds[i]['gt_seg_map']
        # the pseudo mask is read, with its ignore pixel kept
        assert seg[0, 0] == 255 and seg[4, 4] == i


def test_missing_pseudo_masks_name_the_folder_and_files(tmp_path):
    root = _make_voc(str(tmp_path))
    ids = list(LAYOUT)
    pseudo = _pseudo_dir(root, ids[:1])  # 3 of 4 masks missing
    prefix = dict(img_path='JPEGImages', seg_map_path=pseudo)
    with pytest.raises(FileNotFoundError) as e:
        _voc(root, data_prefix=prefix, label_source='none')
    msg = str(e.value)
    assert (f'data_prefix.seg_map_path {pseudo} lacks the masks of 3 of 4 '
            'images listed in') in msg
    assert 'train.txt' in msg
    assert str([name + '.png' for name in ids[1:]]) in msg
    nowhere = osp.join(root, 'nowhere')
    with pytest.raises(FileNotFoundError) as e:
        _voc(root, data_prefix=dict(img_path='JPEGImages',
                                    seg_map_path=nowhere))
    assert f'data_prefix.seg_map_path {nowhere} is not a directory' in str(
        e.value)
    assert '4 of 4 images' in str(e.value)
    with pytest.raises(ValueError, match="label_source='none'"):
        _voc(root, label_source='none', subset_fraction=0.5)
    # check_files=False: no check at construction
    ds = _voc(root, data_prefix=prefix, label_source='none',
              check_files=False)
    assert len(ds) == 4


def test_extra_per_image_files_from_data_prefix(tmp_path):
    """Every data_prefix key <name>_path besides img_path / seg_map_path
    gives each image <folder>/<image id><suffix> (default .png)."""
    root = _make_voc(str(tmp_path))
    ids = list(LAYOUT)
    cams = tmp_path / 'cams'  # absolute: used as is
    cams.mkdir()
    for name in ids:
        (cams / f'{name}.npz').write_bytes(b'')
    os.makedirs(osp.join(root, 'Sal'))  # relative: joined with data_root
    (tmp_path / 'Sal' / f'{ids[0]}.png').write_bytes(b'')
    prefix = dict(
        img_path='JPEGImages',
        seg_map_path='SegmentationClass',
        cam_path=str(cams),
        saliency_path='Sal')
    ds = _voc(root, data_prefix=prefix,
              file_suffixes=dict(cam_path='.npz'),
              optional_files=('saliency_path', ))
    assert ds.extra_file_keys == ['cam_path', 'saliency_path']
    for i, name in enumerate(ids):
        info = ds.get_data_info(i)
        assert info['cam_path'] == osp.join(str(cams), name + '.npz')
        assert info['saliency_path'] == osp.join(root, 'Sal', name + '.png')
    # saliency maps are optional (3 of 4 are missing); CAMs are not
    os.remove(cams / f'{ids[2]}.npz')
    with pytest.raises(FileNotFoundError) as e:
        _voc(root, data_prefix=prefix,
             file_suffixes=dict(cam_path='.npz'),
             optional_files=('saliency_path', ))
    assert (f'data_prefix.cam_path {cams} lacks the cam files of 1 of 4 '
            f"images listed in") in str(e.value)
    assert f"['{ids[2]}.npz']" in str(e.value)
    assert 'optional_files' in str(e.value)
    # without optional_files the missing saliency maps are an error too
    (cams / f'{ids[2]}.npz').write_bytes(b'')
    with pytest.raises(FileNotFoundError) as e:
        _voc(root, data_prefix=prefix, file_suffixes=dict(cam_path='.npz'))
    assert (f"data_prefix.saliency_path {osp.join(root, 'Sal')} lacks the "
            'saliency files of 3 of 4 images') in str(e.value)
    assert str([f'{name}.png' for name in ids[1:]]) in str(e.value)
    # a wrong suffix key is an error that names it
    with pytest.raises(ValueError, match="'seg_map_path'"):
        _voc(root, file_suffixes=dict(seg_map_path='.npz'))
    with pytest.raises(ValueError, match="'cams'"):
        _voc(root, file_suffixes=dict(cams='.npz'))
    with pytest.raises(ValueError, match="'saliency'"):
        _voc(root, optional_files=('saliency', ))


def test_old_method_keywords_are_gone(tmp_path):
    root = _make_voc(str(tmp_path))
    for key in ('pseudo_mask_dir', 'cam_dir', 'saliency_suffix',
                'max_images_per_class'):
        with pytest.raises(TypeError, match=key):
            _voc(root, **{key: 'x'})
