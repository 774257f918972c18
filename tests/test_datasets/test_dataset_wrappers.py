# Copyright (c) OpenMMLab. All rights reserved.
"""PerClassDrawDataset and ClassBalancedSubsetDataset."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS
from PIL import Image

from mmwsss.datasets import (ClassBalancedSubsetDataset, PerClassDrawDataset,
                             WSSSVOCDataset, sample_per_class)
from mmwsss.utils import save_palette_png

# 12 images: class 1 in 0..7 (8 images), class 2 in 4..9 (6), class 3 in 10
# only, image 11 background only
LAYOUT = {f'img_{i:02d}': [] for i in range(12)}
for _i in range(8):
    LAYOUT[f'img_{_i:02d}'].append(1)
for _i in range(4, 10):
    LAYOUT[f'img_{_i:02d}'].append(2)
LAYOUT['img_10'].append(3)


def _make_voc(root, layout):
    """A VOC-layout folder: 8 x 10 images, masks with the given classes."""
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    for name, classes in layout.items():
        Image.fromarray(np.full(
            (8, 10, 3), 100,
            np.uint8)).save(osp.join(root, 'JPEGImages', name + '.jpg'))
        mask = np.zeros((8, 10), np.uint8)
        for i, c in enumerate(classes):
            mask[i * 3:i * 3 + 2, 2:8] = c
        save_palette_png(osp.join(root, 'SegmentationClass', name + '.png'),
                         mask)
    with open(osp.join(root, 'ImageSets/Segmentation/train.txt'), 'w') as f:
        f.write('\n'.join(layout) + '\n')
    return root


def _dataset_cfg(root, **kwargs):
    return dict(type='WSSSVOCDataset',
                data_root=root,
                ann_file='ImageSets/Segmentation/train.txt',
                data_prefix=dict(img_path='JPEGImages',
                                 seg_map_path='SegmentationClass'),
                pipeline=[],
                **kwargs)


def _names(ds):
    return [
        osp.basename(ds.get_data_info(i)['img_path'])[:-4]
        for i in range(len(ds))
    ]


def test_per_class_draw_keeps_all_below_the_cap(tmp_path):
    root = _make_voc(str(tmp_path), LAYOUT)
    init_default_scope('mmseg')
    ds = DATASETS.build(
        dict(type='PerClassDrawDataset',
             dataset=_dataset_cfg(root),
             max_images_per_class=8))
    assert isinstance(ds, PerClassDrawDataset)
    # every class has at most 8 images: all images with a class are kept,
    # each for all its classes; the background-only image is dropped
    assert len(ds) == 11
    assert _names(ds) == [f'img_{i:02d}' for i in range(11)]
    for i in range(11):
        info = ds.get_data_info(i)
        assert info['selected_classes'].dtype == np.int64
        assert info['selected_classes'].tolist() == LAYOUT[f'img_{i:02d}']
        assert info['sample_idx'] == i
    assert ds.metainfo['classes'][:2] == ('background', 'aeroplane')
    # metainfo is a copy
    ds.metainfo['classes'] = None
    assert ds.metainfo['classes'] is not None


@pytest.mark.parametrize('seed', [0, 3])
def test_per_class_draw_is_sample_per_class(tmp_path, seed):
    """Exactly the images and classes of sample_per_class (the former
    max_images_per_class), in the same order."""
    root = _make_voc(str(tmp_path), LAYOUT)
    init_default_scope('mmseg')
    inner = WSSSVOCDataset(**{
        k: v
        for k, v in _dataset_cfg(root).items() if k != 'type'
    })
    ds = PerClassDrawDataset(inner, max_images_per_class=3, seed=seed)
    labels = [inner.get_data_info(i)['img_labels'] for i in range(12)]
    chosen = sample_per_class(labels, 3, seed)
    assert [ds.get_ori_index(i) for i in range(len(ds))] == sorted(chosen)
    got = {}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        got[ds.get_ori_index(i)] = info['selected_classes'].tolist()
        # the data info is the wrapped one plus selected_classes
        ref = inner.get_data_info(ds.get_ori_index(i))
        assert info['img_path'] == ref['img_path']
        assert info['img_labels'].tolist() == ref['img_labels'].tolist()
    assert got == chosen
    # the cap per class: 3 of class 1, 3 of class 2, the single class-3
    # image; every image is drawn only for classes it has
    per_class = {c: sum(c in v for v in got.values()) for c in (1, 2, 3)}
    assert per_class == {1: 3, 2: 3, 3: 1}
    for idx, classes in got.items():
        assert set(classes) <= set(LAYOUT[f'img_{idx:02d}'])
    # seeded: the same draw twice
    again = PerClassDrawDataset(inner, max_images_per_class=3, seed=seed)
    assert _names(again) == _names(ds)


def test_per_class_draw_runs_the_pipeline_and_lazy_init(tmp_path):
    root = _make_voc(str(tmp_path), LAYOUT)
    init_default_scope('mmseg')
    cfg = _dataset_cfg(root)
    cfg['pipeline'] = [
        dict(type='LoadImageFromFile'),
        dict(type='PackWSSSInputs',
             meta_keys=('img_path', 'img_labels', 'selected_classes')),
    ]
    ds = PerClassDrawDataset(cfg, max_images_per_class=2, lazy_init=True)
    assert not ds._fully_initialized
    out = ds[0]  # initialises on first access
    assert ds._fully_initialized
    info = ds.get_data_info(0)
    meta = out['data_samples'].metainfo
    assert meta['img_path'] == info['img_path']
    assert meta['selected_classes'].tolist() == \
        info['selected_classes'].tolist()
    assert out['inputs'].shape == (3, 8, 10)


def test_per_class_draw_errors(tmp_path):
    root = _make_voc(str(tmp_path), LAYOUT)
    init_default_scope('mmseg')
    with pytest.raises(ValueError, match='max_images_per_class must be >= 1'):
        PerClassDrawDataset(_dataset_cfg(root), max_images_per_class=0)
    with pytest.raises(ValueError, match='no "img_labels"'):
        PerClassDrawDataset(_dataset_cfg(root, label_source='none'),
                            max_images_per_class=2)
    with pytest.raises(TypeError, match='BaseDataset'):
        PerClassDrawDataset([1, 2], max_images_per_class=2)


def test_class_balanced_subset_wrapper_equals_subset_fraction(tmp_path):
    layout = {f'img_{i:03d}': [1 + i % 3] for i in range(24)}
    root = _make_voc(str(tmp_path), layout)
    init_default_scope('mmseg')
    ref = DATASETS.build(
        _dataset_cfg(root, subset_fraction=0.25, subset_seed=3))
    ds = DATASETS.build(
        dict(type='ClassBalancedSubsetDataset',
             dataset=_dataset_cfg(root),
             fraction=0.25,
             seed=3))
    assert isinstance(ds, ClassBalancedSubsetDataset)
    assert len(ds) == 6  # ceil(8 / 4) images of each of 3 classes
    assert _names(ds) == _names(ref)
    counts = np.bincount(
        [ds.get_data_info(i)['img_labels'][0] for i in range(len(ds))],
        minlength=4)
    assert counts.tolist() == [0, 2, 2, 2]
    with pytest.raises(ValueError, match=r'fraction must be in \(0, 1\]'):
        ClassBalancedSubsetDataset(_dataset_cfg(root), fraction=0)
