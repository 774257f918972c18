# Copyright (c) OpenMMLab. All rights reserved.
"""Saliency maps and saved CAMs: loading, alignment, errors."""
import os.path as osp

import numpy as np
import pytest
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope
from PIL import Image

from mmwsss.datasets import LoadCAMs, LoadSaliencyMap


@pytest.fixture
def image_and_saliency(tmp_path):
    """An image with distinct pixels; its saliency map is its red channel."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / 'a.png')
    Image.fromarray(img[..., 0]).save(tmp_path / 'a_sal.png')
    return tmp_path, img


def _results(root, sal_name='a_sal.png'):
    return dict(
        img_path=str(root / 'a.png'),
        saliency_path=str(root / sal_name),
        gt_score=np.zeros(3, np.float32),
        seg_fields=[])


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_saliency_stays_aligned_under_resize_crop_flip(image_and_saliency,
                                                       seed):
    root, img = image_and_saliency
    init_default_scope('mmseg')
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='LoadSaliencyMap'),
        # nearest for the image too, so both must match exactly
        dict(
            type='RandomResize',
            scale=(52, 40),
            ratio_range=(1.0, 2.0),
            keep_ratio=True,
            interpolation='nearest'),
        dict(type='RandomCrop', crop_size=(24, 30)),
        dict(type='RandomFlip', prob=1.0),
        dict(
            type='PackWSSSInputs',
            meta_keys=('img_path', 'img_shape', 'flip', 'flip_direction',
                       'saliency_valid'),
            pixel_keys=('gt_saliency', )),
    ])
    np.random.seed(seed)
    out = pipeline(_results(root))
    image = out['inputs'].numpy()  # BGR, (3, 24, 30)
    sal = out['data_samples'].gt_saliency.data[0].numpy()
    assert image.shape[1:] == sal.shape == (24, 30)
    # the packed saliency is float in [0, 1]: back to bytes, it is the
    # red channel of the very same (resized, cropped, flipped) pixels
    np.testing.assert_array_equal(np.round(sal * 255).astype(np.uint8),
                                  image[2])
    assert out['data_samples'].metainfo['saliency_valid'] is True
    assert out['data_samples'].flip
    # and it is not simply the unflipped crop
    assert not np.array_equal(image[2], image[2][:, ::-1])


def test_missing_saliency_error_or_fallback(image_and_saliency):
    root, img = image_and_saliency
    init_default_scope('mmseg')
    load = Compose([dict(type='LoadImageFromFile'), LoadSaliencyMap()])
    with pytest.raises(FileNotFoundError, match='missing_sal.png'):
        load(_results(root, 'missing_sal.png'))
    for fallback, valid in (('ignore', False), ('zeros', True)):
        load = Compose([
            dict(type='LoadImageFromFile'),
            LoadSaliencyMap(fallback=fallback)
        ])
        out = load(_results(root, 'missing_sal.png'))
        assert out['gt_saliency'].shape == (40, 52)
        assert not out['gt_saliency'].any()
        assert out['saliency_valid'] is valid
    with pytest.raises(ValueError, match='fallback'):
        LoadSaliencyMap(fallback='ones')
    # a map of another size, or no saliency_path at all
    Image.fromarray(img[:20, :, 0]).save(root / 'small.png')
    load = Compose([dict(type='LoadImageFromFile'), LoadSaliencyMap()])
    with pytest.raises(ValueError, match='small.png is 52x20'):
        load(_results(root, 'small.png'))
    bad = _results(root)
    del bad['saliency_path']
    with pytest.raises(KeyError, match='saliency_path'):
        load(bad)
    (root / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(OSError, match='broken.png'):
        load(_results(root, 'broken.png'))


def test_dataset_sets_saliency_and_cam_paths(tmp_path):
    from mmwsss.datasets import SyntheticWSSSDataset
    from mmwsss.testing import TINY_GENERATE
    root = str(tmp_path / 'syn')
    prefix = dict(
        img_path='JPEGImages',
        seg_map_path='SegmentationClass',
        saliency_path='SaliencyImages')
    common = dict(
        data_root=root,
        generate=TINY_GENERATE,
        ann_file='ImageSets/Segmentation/train.txt',
        file_suffixes=dict(cam_path='.npz'),
        pipeline=[])
    ds = SyntheticWSSSDataset(data_prefix=prefix, **common)
    info = ds.get_data_info(0)
    assert info['saliency_path'] == osp.join(
        root, 'SaliencyImages',
        osp.basename(info['img_path'])[:-4] + '.png')
    assert osp.isfile(info['saliency_path'])
    assert 'cam_path' not in info  # no cam_path folder, no cam_path
    cam_dir = tmp_path / 'cams'
    cam_dir.mkdir()
    with_cams = dict(prefix, cam_path=str(cam_dir))
    with pytest.raises(
            FileNotFoundError,
            match=f'data_prefix.cam_path {cam_dir} lacks the cam files of '
            f'10 of 10 images'):
        SyntheticWSSSDataset(data_prefix=with_cams, **common)
    ids = [osp.basename(ds.get_data_info(i)['img_path'])[:-4]
           for i in range(len(ds))]
    for i in ids:
        np.savez(cam_dir / f'{i}.npz', cams=np.zeros((1, 2, 2)),
                 labels=np.array([1]))
    ds = SyntheticWSSSDataset(data_prefix=with_cams, **common)
    assert ds.get_data_info(0)['cam_path'] == str(cam_dir / f'{ids[0]}.npz')


def test_load_cams(tmp_path):
    cams = np.random.default_rng(0).random((2, 4, 5)).astype(np.float16)
    np.savez(tmp_path / 'a.npz', cams=cams, labels=np.array([3, 7]))
    out = LoadCAMs()(dict(cam_path=str(tmp_path / 'a.npz'),
                          img=np.zeros((4, 5, 3), np.uint8)))
    np.testing.assert_array_equal(out['cams'], cams.astype(np.float32))
    assert out['cam_labels'].tolist() == [3, 7]
    with pytest.raises(ValueError, match='are 5x4 but the image'):
        LoadCAMs()(dict(cam_path=str(tmp_path / 'a.npz'),
                        img=np.zeros((8, 5, 3), np.uint8)))
    with pytest.raises(OSError, match='missing.npz'):
        LoadCAMs()(dict(cam_path=str(tmp_path / 'missing.npz')))
    with pytest.raises(KeyError, match='x.jpg.*data_prefix.cam_path'):
        LoadCAMs()(dict(img_path='x.jpg'))


def test_colour_saliency_map_is_read_as_grey(image_and_saliency):
    root, img = image_and_saliency
    grey = img[..., 0]
    # a colour map with the same value in R, G and B is that grey map
    Image.fromarray(np.stack([grey] * 3, -1)).save(root / 'rgb_sal.png')
    out = Compose([dict(type='LoadImageFromFile'),
                   LoadSaliencyMap(unit_range=False)])(
                       _results(root, 'rgb_sal.png'))
    assert out['gt_saliency'].dtype == np.uint8
    np.testing.assert_array_equal(out['gt_saliency'], grey)
    # by default the same map as float32 byte / 255
    out = Compose([dict(type='LoadImageFromFile'),
                   LoadSaliencyMap()])(_results(root, 'rgb_sal.png'))
    assert out['gt_saliency'].dtype == np.float32
    np.testing.assert_array_equal(out['gt_saliency'],
                                  grey.astype(np.float32) / 255)
    # pure red (255, 0, 0) is 0.299 * 255 = 76 in PIL's luma
    Image.fromarray(np.zeros((40, 52, 3), np.uint8) + np.array(
        [255, 0, 0], np.uint8)).save(root / 'red.png')
    out = Compose([dict(type='LoadImageFromFile'),
                   LoadSaliencyMap(unit_range=False)])(
                       _results(root, 'red.png'))
    assert (out['gt_saliency'] == 76).all()
    out = Compose([dict(type='LoadImageFromFile'),
                   LoadSaliencyMap()])(_results(root, 'red.png'))
    assert (out['gt_saliency'] == np.float32(76) / 255).all()
