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
    kwargs.setdefault('ann_file', 'ImageSets/Segmentation/train.txt')
    return WSSSVOCDataset(data_root=root, pipeline=[], **kwargs)


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


# ---------------------------------------------------------------------------
# image-label files are read without running code (issue 13, item 2)


def _write_npy_pickle(path, obj, protocol):
    """A .npy of a 0-d object array holding ``obj``, pickled with
    ``protocol`` (PSA/IRN files are protocol 2, np.save writes 3 or 4)."""
    import pickle
    arr = np.empty((), dtype=object)
    arr[()] = obj
    with open(path, 'wb') as f:
        np.lib.format.write_array_header_1_0(
            f, dict(descr='|O', fortran_order=False, shape=()))
        pickle.dump(arr, f, protocol=protocol)
    return str(path)


class _MakesDir:
    """Unpickling it calls os.mkdir(path): a stand-in for any code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path, )


@pytest.mark.parametrize('protocol', [0, 2, 4, 5])
def test_malicious_cls_labels_npy_is_refused_without_running(
        tmp_path, protocol):
    root = _make_voc(str(tmp_path / 'voc'))
    marker = tmp_path / 'marker'
    table = {name: np.zeros(20, np.float32) for name in LAYOUT}
    table['2007_000032'] = _MakesDir(str(marker))
    path = _write_npy_pickle(osp.join(root, 'cls_labels.npy'), table,
                             protocol)
    with pytest.raises(ValueError) as e:
        load_cls_label_file(path)
    assert str(e.value).startswith(
        f'image-label file {path} was refused: its pickle needs the global '
        f'{os.mkdir.__module__}.mkdir, which a dict of image ids and label '
        'vectors does not')
    assert not marker.exists()
    # the VOC dataset picks the file up by default: refused the same way
    with pytest.raises(ValueError, match='was refused.*mkdir'):
        _voc(root)
    assert not marker.exists()
    # a top-level callable (not inside the dict) is refused too
    _write_npy_pickle(path, _MakesDir(str(marker)), protocol)
    with pytest.raises(ValueError, match='was refused'):
        load_cls_label_file(path)
    assert not marker.exists()


def test_npy_pickle_may_only_encode_latin1(tmp_path):
    import codecs

    class _Rot13:

        def __reduce__(self):
            return codecs.encode, ('abc', 'rot13')

    path = _write_npy_pickle(tmp_path / 'c.npy', {'a': _Rot13()}, 2)
    with pytest.raises(ValueError, match=r'c\.npy.*latin-1'):
        load_cls_label_file(path)


@pytest.mark.parametrize('protocol', [0, 2, 3, 4, 5])
@pytest.mark.parametrize('key_type', ['str', 'np.int32', 'int'])
def test_psa_and_irn_cls_labels_npy_load(tmp_path, protocol, key_type):
    """PSA (str ids) and IRN (int ids, numpy scalars) files of any pickle
    protocol load as before: the same ids and float32 vectors."""
    table, expected = {}, {}
    for i, name in enumerate(LAYOUT):
        vec = np.zeros(20, np.float32)
        vec[[c - 1 for c in LAYOUT[name]]] = 1
        vec[16 + i] = 0.25  # values are kept as they are (not labels)
        digits = int(name.replace('_', ''))
        key = dict(str=name, int=digits)[key_type] \
            if key_type != 'np.int32' else np.int32(digits)
        table[key] = vec
        expected[name if key_type == 'str' else digits] = vec
    path = _write_npy_pickle(tmp_path / 'cls_labels.npy', table, protocol)
    got = load_cls_label_file(path)
    assert list(got) == list(expected)
    assert all(type(k) is type(e) for k, e in zip(got, expected))
    for key, vec in expected.items():
        assert got[key].dtype == np.float32
        assert got[key].tolist() == vec.tolist()
    # and a dataset reads the labels from it
    root = _make_voc(str(tmp_path / 'voc'))
    os.replace(path, osp.join(root, 'cls_labels.npy'))
    ds = _voc(root)
    assert ds.label_source_used == 'file'
    assert ds.get_data_info(0)['img_labels'].tolist() == [1, 15]
    assert ds.get_data_info(2)['img_labels'].tolist() == []


def test_cls_labels_npy_of_wrong_content(tmp_path):
    path = str(tmp_path / 'arr.npy')
    np.save(path, np.zeros((3, 20), np.float32))
    with pytest.raises(ValueError,
                       match=r'arr\.npy: expected a pickled dict.*float32'):
        load_cls_label_file(path)
    path = _write_npy_pickle(tmp_path / 'v.npy', {'a': 'dog'}, 4)
    with pytest.raises(ValueError, match=r"v\.npy: the entry of 'a'"):
        load_cls_label_file(path)
    path = _write_npy_pickle(tmp_path / 'k.npy', {1.5: np.zeros(2)}, 4)
    with pytest.raises(ValueError, match=r'k\.npy: image ids must be str '
                       r'or int, got 1\.5'):
        load_cls_label_file(path)


def _psa_table(int_keys=False):
    table = {}
    for name, classes in LAYOUT.items():
        vec = np.zeros(20, np.float32)
        vec[[c - 1 for c in classes]] = 1
        table[int(name.replace('_', '')) if int_keys else name] = vec
    return table


@pytest.mark.parametrize('int_keys', [False, True])
def test_npz_label_file(tmp_path, int_keys):
    root = _make_voc(str(tmp_path))
    np.savez(osp.join(root, 'labels.npz'),
             **{str(k): v for k, v in _psa_table(int_keys).items()})
    ds = _voc(root, cls_label_file='labels.npz')
    assert ds.label_source_used == 'file'
    assert [d['img_labels'].tolist() for d in ds.load_data_list()] == \
        list(LAYOUT.values())
    # the vector length is still checked against the classes
    np.savez(osp.join(root, 'labels.npz'),
             **{k: np.zeros(80, np.float32) for k in LAYOUT})
    with pytest.raises(ValueError, match=r'labels\.npz.*length 80.*20'):
        _voc(root, cls_label_file='labels.npz')


def _converter():
    import importlib.util
    path = osp.join(osp.dirname(__file__), '..', '..', 'tools',
                    'dataset_converters', 'cls_labels_to_json.py')
    spec = importlib.util.spec_from_file_location('_cls_labels_to_json',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('int_keys', [False, True])
def test_cls_labels_converter(tmp_path, capsys, int_keys):
    root = _make_voc(str(tmp_path / 'voc'))
    src = _write_npy_pickle(tmp_path / 'cls_labels.npy',
                            _psa_table(int_keys), 2)
    tool = _converter()
    for ext in ('json', 'npz'):
        dst = osp.join(root, f'cls_labels.{ext}')
        assert tool.main([src, dst]) == 0
        assert f'wrote {dst}: 4 images, 20 foreground classes' in \
            capsys.readouterr().out
        ds = _voc(root, cls_label_file=f'cls_labels.{ext}')
        assert ds.label_source_used == 'file'
        assert [d['img_labels'].tolist() for d in ds.load_data_list()] == \
            list(LAYOUT.values())
    import json
    with open(osp.join(root, 'cls_labels.json')) as f:
        data = json.load(f)
    key = '2007000032' if int_keys else '2007_000032'
    assert data[key] == [1, 15]
    assert not list(tmp_path.rglob('*.tmp'))
    # a malicious file: refused, nothing runs, nothing is written
    marker = tmp_path / 'marker'
    bad = _write_npy_pickle(tmp_path / 'bad.npy',
                            {'a': _MakesDir(str(marker))}, 2)
    out = str(tmp_path / 'bad.json')
    assert tool.main([bad, out]) == 1
    assert 'was refused' in capsys.readouterr().err
    assert not marker.exists() and not osp.exists(out)
    assert tool.main([src, str(tmp_path / 'x.yaml')]) == 1
    assert 'must end in one of' in capsys.readouterr().err


# ---------------------------------------------------------------------------
# image identity: the path under the image folder (issue 13, item 4)


def _make_nested_voc(root, entries=('a/x', 'b/x')):
    """A VOC layout whose split lists ``entries`` (same file name in two
    folders), with different images and masks."""
    root = _make_voc(root)
    for i, entry in enumerate(entries):
        img = osp.join(root, 'JPEGImages', entry + '.jpg')
        os.makedirs(osp.dirname(img), exist_ok=True)
        Image.fromarray(np.full((8, 10, 3), 50 * i, np.uint8)).save(img)
        mask = np.zeros((8, 10), np.uint8)
        mask[:4] = i + 1
        save_palette_png(
            osp.join(root, 'SegmentationClass', entry + '.png'), mask)
    with open(osp.join(root, 'ImageSets/Segmentation/nested.txt'),
              'w') as f:
        f.write('\n'.join(entries) + '\n')
    return root


def test_image_id_is_the_path_under_the_image_folder(tmp_path):
    from mmwsss.datasets import PackWSSSInputs
    root = _make_nested_voc(str(tmp_path))
    for name in ('a', 'b'):
        os.makedirs(osp.join(root, 'Sal', name))
        (tmp_path / 'Sal' / name / 'x.png').write_bytes(b'')
    ds = _voc(root, ann_file='ImageSets/Segmentation/nested.txt',
              data_prefix=dict(img_path='JPEGImages',
                               seg_map_path='SegmentationClass',
                               saliency_path='Sal'))
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [d['img_id'] for d in infos] == ['a/x', 'b/x']
    assert [d['img_labels'].tolist() for d in infos] == [[1], [2]]
    assert [d['saliency_path'] for d in infos] == [
        osp.join(root, 'Sal', 'a', 'x.png'),
        osp.join(root, 'Sal', 'b', 'x.png')
    ]
    # the id reaches the sample's metainfo whatever meta_keys says
    pack = PackWSSSInputs(meta_keys=('img_path', ))
    sample = pack(dict(infos[1], img=np.zeros((8, 10, 3), np.uint8)))
    assert sample['data_samples'].metainfo['img_id'] == 'b/x'
    # flat VOC ids are the file names, as always
    flat = _voc(root)
    assert [flat.get_data_info(i)['img_id'] for i in range(4)] == \
        list(LAYOUT)


@pytest.mark.parametrize('entry', ['../x', 'a/../../x', 'ABS'])
def test_entries_outside_the_image_folder_are_refused(tmp_path, entry):
    root = _make_voc(str(tmp_path / 'voc'))
    Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(
        osp.join(root, 'x.jpg'))
    save_palette_png(osp.join(root, 'x.png'), np.zeros((8, 10), np.uint8))
    if entry == 'ABS':
        entry = osp.join(root, 'x')
    os.makedirs(osp.join(root, 'JPEGImages', 'a'))
    split = osp.join(root, 'ImageSets/Segmentation/out.txt')
    with open(split, 'w') as f:
        f.write(f'2007_000032\n{entry}\n')
    with pytest.raises(ValueError) as e:
        _voc(root, ann_file='ImageSets/Segmentation/out.txt')
    img_dir = osp.join(root, 'JPEGImages')
    assert str(e.value).startswith(
        f'WSSSVOCDataset: 1 entry of {split} resolves outside the image '
        f'folder {img_dir}: {entry!r} (')
    assert 'allow_outside_paths=True' in str(e.value)
    # the opt-in reads it; its id and mask stay inside their folders
    seg_dir = osp.join(root, 'SegmentationClass')
    save_palette_png(osp.join(seg_dir, '%2E%2E', 'x.png'),
                     np.full((8, 10), 3, np.uint8))
    ds = _voc(root, ann_file='ImageSets/Segmentation/out.txt',
              allow_outside_paths=True)
    info = ds.get_data_info(1)
    assert info['img_id'] == '%2E%2E/x'
    assert osp.normpath(info['img_path']) == osp.join(root, 'x.jpg')
    assert info['seg_map_path'] == osp.join(seg_dir, '%2E%2E', 'x.png')
    assert info['img_labels'].tolist() == [3]


def test_folder_dataset_ids_of_nested_folders(tmp_path):
    for i, sub in enumerate(('a', 'b')):
        os.makedirs(tmp_path / 'images' / sub)
        Image.fromarray(np.full((4, 4, 3), 80 * i, np.uint8)).save(
            str(tmp_path / 'images' / sub / 'x.jpg'))
    (tmp_path / 'labels.txt').write_text('a/x cat\nb/x dog\n')
    ds = WSSSFolderDataset(
        data_root=str(tmp_path),
        data_prefix=dict(img_path='images'),
        metainfo=dict(classes=('background', 'cat', 'dog')),
        pipeline=[])
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [(d['img_id'], d['img_labels'].tolist()) for d in infos] == [
        ('a/x', [1]), ('b/x', [2])]


# ---------------------------------------------------------------------------
# up-front image check (issue 13, item 5)


def test_check_images_names_every_undecodable_file(tmp_path):
    root = _make_voc(str(tmp_path))
    # a good dataset passes the check
    assert len(_voc(root, check_images=True)) == 4
    names = list(LAYOUT)
    img = osp.join(root, 'JPEGImages', names[1] + '.jpg')
    Image.fromarray(
        np.random.default_rng(0).integers(0, 255, (64, 64, 3),
                                          dtype=np.uint8)).save(img)
    with open(img, 'rb') as f:
        data = f.read()
    with open(img, 'wb') as f:
        f.write(data[:len(data) // 2])  # a truncated JPEG
    mask = osp.join(root, 'SegmentationClass', names[3] + '.png')
    with open(mask, 'wb') as f:
        f.write(b'not a png')
    # without the check, construction does not read the images
    assert len(_voc(root, label_source='none')) == 4
    with pytest.raises(OSError) as e:
        _voc(root, label_source='none', check_images=True)
    msg = str(e.value)
    split = osp.join(root, 'ImageSets/Segmentation/train.txt')
    assert msg.startswith(
        f'WSSSVOCDataset: 2 of 8 image and mask files of {split} cannot be '
        f'decoded:\n  {img} (OSError: image file is truncated')
    assert f'\n  {mask} (UnidentifiedImageError: ' in msg
