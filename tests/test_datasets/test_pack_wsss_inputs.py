# Copyright (c) OpenMMLab. All rights reserved.
"""PackWSSSInputs: gt_score always, declared algorithm/pixel/meta keys."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope
from PIL import Image

from mmwsss.datasets import PackWSSSInputs


def _results(**extra):
    res = dict(img=np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3),
               img_path='a.jpg',
               ori_shape=(2, 3),
               img_shape=(2, 3),
               gt_score=np.array([0, 1, 0], np.float32),
               img_labels=np.array([2]),
               seg_fields=[])
    res.update(extra)
    return res


def test_default_packs_gt_score_and_nothing_undeclared():
    cams = np.ones((1, 2, 3), np.float32)
    out = PackWSSSInputs()(_results(cams=cams,
                                    cam_labels=np.array([2]),
                                    gt_saliency=np.zeros((2, 3), np.float32),
                                    saliency_valid=False,
                                    selected_classes=np.array([2])))
    ds = out['data_samples']
    assert ds.gt_score.dtype == torch.float32
    assert ds.gt_score.tolist() == [0.0, 1.0, 0.0]
    assert ds.metainfo['img_labels'].tolist() == [2]
    assert ds.metainfo['img_path'] == 'a.jpg'
    # nothing method-specific unless declared
    for key in ('cams', 'cam_labels', 'gt_saliency'):
        assert key not in ds
    for key in ('saliency_valid', 'selected_classes'):
        assert key not in ds.metainfo
    with pytest.raises(KeyError, match='gt_score.*a.jpg'):
        PackWSSSInputs()(dict(img=np.zeros((2, 3, 3), np.uint8),
                              img_path='a.jpg'))


def test_algorithm_keys_become_tensors():
    rng = np.random.default_rng(0)
    cams = rng.random((3, 5, 2)).astype(np.float32).transpose(0, 2, 1)
    assert not cams.flags['C_CONTIGUOUS']
    labels = np.array([1, 4], np.int64)
    pack = PackWSSSInputs(algorithm_keys=('cams', 'cam_labels', 'absent',
                                          'note'))
    out = pack(_results(cams=cams, cam_labels=labels, note='text'))
    ds = out['data_samples']
    assert ds.cams.dtype == torch.float32 and ds.cams.shape == (3, 2, 5)
    assert ds.cams.is_contiguous()
    assert torch.equal(ds.cams, torch.from_numpy(np.ascontiguousarray(cams)))
    assert ds.cam_labels.dtype == torch.int64
    assert ds.cam_labels.tolist() == [1, 4]
    assert ds.note == 'text'  # not an array: as is
    assert 'absent' not in ds  # missing keys are skipped


def test_pixel_keys_become_pixel_data_with_a_channel_dim():
    grey = np.array([[0, 128, 255], [1, 2, 3]], np.uint8)
    colour = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    pack = PackWSSSInputs(pixel_keys=('grey', 'colour', 'absent'))
    ds = pack(_results(grey=grey, colour=colour))['data_samples']
    assert ds.grey.data.dtype == torch.uint8  # dtype kept
    assert ds.grey.data.tolist() == [[[0, 128, 255], [1, 2, 3]]]
    assert ds.colour.data.shape == (2, 2, 3)  # (H, W, C) -> (C, H, W)
    assert torch.equal(ds.colour.data[1],
                       torch.from_numpy(colour[..., 1].copy()))
    assert 'absent' not in ds
    with pytest.raises(ValueError, match="'grey' of a.jpg must be"):
        pack(_results(grey=np.zeros(4, np.uint8)))
    with pytest.raises(TypeError, match="'grey' of a.jpg must be an array"):
        pack(_results(grey=[1, 2]))


def test_declared_meta_keys():
    pack = PackWSSSInputs(meta_keys=('img_path', 'img_labels',
                                     'saliency_valid', 'selected_classes'))
    ds = pack(
        _results(saliency_valid=False,
                 selected_classes=np.array([2, 5], np.int64),
                 flip=True))['data_samples']
    assert ds.metainfo['saliency_valid'] is False
    assert ds.metainfo['selected_classes'].tolist() == [2, 5]
    assert 'flip' not in ds.metainfo


def test_bad_declarations():
    with pytest.raises(ValueError, match="'gt_score' is packed by default"):
        PackWSSSInputs(algorithm_keys=('gt_score', ))
    with pytest.raises(ValueError, match=r"both.*\['x'\]"):
        PackWSSSInputs(algorithm_keys=('x', ), pixel_keys=('x', ))
    with pytest.raises(TypeError, match='strings'):
        PackWSSSInputs(pixel_keys=(1, ))
    # a single string is one key
    assert PackWSSSInputs(pixel_keys='gt_saliency').pixel_keys == \
        ('gt_saliency', )


@pytest.mark.parametrize('seed', range(6))
def test_saliency_values_are_those_of_the_former_packer(tmp_path, seed):
    """LoadSaliencyMap's float map in [0, 1], moved by nearest resizes,
    crops and flips and packed through pixel_keys, is bit-identical to the
    former packing of the uint8 map after the same transforms:
    ``torch.from_numpy(np.ascontiguousarray(np.float32(u8) / 255))[None]``.
    """
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    sal = rng.integers(0, 256, (37, 53), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / 'a.png')
    Image.fromarray(sal).save(tmp_path / 's.png')
    init_default_scope('mmseg')

    def run(unit_range):
        pipeline = Compose([
            dict(type='LoadImageFromFile'),
            dict(type='LoadSaliencyMap', unit_range=unit_range),
            dict(type='RandomResize',
                 scale=(53, 37),
                 ratio_range=(0.6, 1.9),
                 keep_ratio=True),
            dict(type='RandomCrop', crop_size=(29, 31)),
            dict(type='RandomFlip', prob=0.5),
            dict(type='PackWSSSInputs',
                 meta_keys=('img_path', 'flip', 'saliency_valid'),
                 pixel_keys=('gt_saliency', )),
        ])
        np.random.seed(seed)
        return pipeline(
            dict(img_path=str(tmp_path / 'a.png'),
                 saliency_path=str(tmp_path / 's.png'),
                 gt_score=np.zeros(3, np.float32),
                 seg_fields=[]))

    new = run(True)['data_samples']
    old = run(False)['data_samples']
    u8 = old.gt_saliency.data[0].numpy()
    assert u8.dtype == np.uint8
    expected = torch.from_numpy(
        np.ascontiguousarray(np.asarray(u8, dtype=np.float32) / 255))[None]
    got = new.gt_saliency.data
    assert got.dtype == torch.float32 and got.shape == expected.shape
    assert torch.equal(got, expected)
    assert new.metainfo['saliency_valid'] is True
    assert new.metainfo['flip'] == old.metainfo['flip']


def test_eps_config_packs_what_eps_head_reads(tmp_path):
    """The EPS config's train pipeline on its dataset (generated into a
    temporary data_root) gives samples EPSHead reads."""
    from mmengine.config import Config
    from mmseg.registry import DATASETS

    from mmwsss.models import EPSHead
    from mmwsss.testing import REPO_ROOT, TINY_GENERATE
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'eps',
                 'eps_r18w32-d8_1xb16-600_synthetic-96x96.py'))
    init_default_scope('mmseg')
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = str(tmp_path / 'syn')
    ds_cfg.generate = TINY_GENERATE
    dataset = DATASETS.build(ds_cfg)
    info = dataset.get_data_info(0)
    image_id = osp.basename(info['img_path'])[:-4]
    assert info['saliency_path'] == osp.join(str(tmp_path / 'syn'),
                                             'SaliencyImages',
                                             image_id + '.png')
    packed = [dataset[i] for i in range(2)]
    samples = [p['data_samples'] for p in packed]
    for p, ds in zip(packed, samples):
        sal = ds.gt_saliency.data
        assert sal.dtype == torch.float32
        assert sal.shape == (1, ) + tuple(p['inputs'].shape[1:])
        assert 0 <= sal.min() <= sal.max() <= 1
        assert ds.metainfo['saliency_valid'] is True
    size = tuple(
        max(ds.gt_saliency.data.shape[k] for ds in samples) for k in (1, 2))
    sal, valid = EPSHead.batch_saliency(samples, size)
    h, w = samples[1].gt_saliency.data.shape[1:]
    assert torch.equal(sal[1, :, :h, :w], samples[1].gt_saliency.data)
    assert valid[1, :, :h, :w].all()
