# Copyright (c) OpenMMLab. All rights reserved.
"""ImageGroupDataset (RPNet's image groups) and group_collate."""
import json
import os
import os.path as osp
from collections import Counter

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import FUNCTIONS, init_default_scope
from mmengine.runner import Runner
from mmseg.registry import DATASETS
from PIL import Image

import mmwsss.datasets.wrappers as wrappers_module
from mmwsss.datasets import (ClassBalancedSubsetDataset, ImageGroupDataset,
                             WSSSVOCDataset, generate_synthetic_wsss,
                             group_collate)
from mmwsss.testing import TINY_GENERATE, free_port
from mmwsss.utils import save_palette_png

# 10 images: class 1 in 0..5, class 2 in 4..7, class 3 only in img_08 (its
# only class), class 4 only in img_07 (with class 2), img_09 background only
LAYOUT = {
    'img_00': [1],
    'img_01': [1],
    'img_02': [1],
    'img_03': [1],
    'img_04': [1, 2],
    'img_05': [1, 2],
    'img_06': [2],
    'img_07': [2, 4],
    'img_08': [3],
    'img_09': []
}
NAMES = list(LAYOUT)
PACK = [dict(type='LoadImageFromFile'), dict(type='PackWSSSInputs')]


def _make_voc(root, layout):
    """A VOC-layout folder: 8 x 10 images (each its own pattern, so a flip
    shows), masks with the given classes."""
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    for k, (name, classes) in enumerate(layout.items()):
        img = np.zeros((8, 10, 3), np.uint8)
        img[:, :5] = 10 * k + 5  # left half differs from the right
        Image.fromarray(img).save(osp.join(root, 'JPEGImages', name + '.png'))
        mask = np.zeros((8, 10), np.uint8)
        for i, c in enumerate(classes):
            mask[i * 3:i * 3 + 2, 2:8] = c
        save_palette_png(osp.join(root, 'SegmentationClass', name + '.png'),
                         mask)
    with open(osp.join(root, 'ImageSets/Segmentation/train.txt'), 'w') as f:
        f.write('\n'.join(layout) + '\n')
    return root


def _cfg(root, pipeline=(), **kwargs):
    return dict(type='WSSSVOCDataset',
                data_root=root,
                ann_file='ImageSets/Segmentation/train.txt',
                img_suffix='.png',
                data_prefix=dict(img_path='JPEGImages',
                                 seg_map_path='SegmentationClass'),
                pipeline=list(pipeline),
                **kwargs)


def _name(path):
    return osp.splitext(osp.basename(path))[0]


def _draws(ds, idx, n=300):
    return [r for _ in range(n) for r in ds.draw_references(idx)]


@pytest.fixture
def root(tmp_path):
    init_default_scope('mmseg')
    return _make_voc(str(tmp_path / 'voc'), LAYOUT)


def test_references_share_a_class(root):
    ds = DATASETS.build(
        dict(type='ImageGroupDataset', dataset=_cfg(root), num_references=3))
    assert isinstance(ds, ImageGroupDataset)
    assert len(ds) == 10  # every image is a query
    assert ds.metainfo['classes'][:2] == ('background', 'aeroplane')
    np.random.seed(0)
    for idx, name in enumerate(NAMES):
        info = ds.get_data_info(idx)
        assert _name(info['img_path']) == name
        assert info['img_labels'].tolist() == LAYOUT[name]
        refs = ds.draw_references(idx)
        assert len(refs) == 3
        for ref, cls in _draws(ds, idx):
            ref_classes = LAYOUT[NAMES[ref]]
            if LAYOUT[name]:  # the drawn class is shared by both
                assert cls in LAYOUT[name] and cls in ref_classes
            else:  # unpaired='self' (default): the image itself
                assert (ref, cls) == (idx, -1)
    # img_04 (classes 1, 2): a class uniformly, then an image of its list
    # uniformly, the query included (as RPNet's code)
    np.random.seed(1)
    draws = _draws(ds, 4, 1000)
    classes = Counter(c for _, c in draws)
    assert abs(classes[1] - 1500) < 150 and classes[1] + classes[2] == 3000
    refs1 = Counter(r for r, c in draws if c == 1)
    assert sorted(refs1) == [0, 1, 2, 3, 4, 5]
    assert max(refs1.values()) - min(refs1.values()) < 120
    assert sorted({r for r, c in draws if c == 2}) == [4, 5, 6, 7]
    # a class in one image only: that image pairs with itself
    assert set(_draws(ds, 8)) == {(8, 3)}
    # img_07: class 4 (img_07 alone) gives itself, class 2 img_04..07
    assert set(_draws(ds, 7)) == {(7, 4), (4, 2), (5, 2), (6, 2), (7, 2)}


def test_exclude_self(root, monkeypatch):
    logs = []
    monkeypatch.setattr(wrappers_module, 'print_log',
                        lambda msg, **kw: logs.append(msg))
    ds = ImageGroupDataset(_cfg(root),
                           num_references=2,
                           exclude_self=True,
                           unpaired='any')
    # the warning names the single-image classes
    warning = [m for m in logs if 'single image' in m]
    assert len(warning) == 1
    assert '3 (bird), 4 (boat)' in warning[0]
    np.random.seed(0)
    for idx in range(10):
        draws = _draws(ds, idx)
        if idx == 8:  # class 3 is img_08's only class: the fallback
            assert set(draws) == {(8, 3)}
        elif idx == 9:  # 'any': every other image, no class
            assert {c for _, c in draws} == {-1}
            assert sorted({r for r, _ in draws}) == list(range(9))
        else:
            assert idx not in {r for r, _ in draws}
    # img_07: class 4 is its alone, so class 2 is drawn
    assert {c for _, c in _draws(ds, 7)} == {2}
    # without exclude_self, 'any' may give the image itself
    ds_any = ImageGroupDataset(_cfg(root), unpaired='any')
    assert sorted({r for r, _ in _draws(ds_any, 9)}) == list(range(10))


def test_unpaired_error_names_the_file(root):
    with pytest.raises(ValueError,
                       match=r'1 image\(s\).*no foreground class.*img_09'
                       r'\.png'):
        ImageGroupDataset(_cfg(root), unpaired='error')
    # lazily: at the first access
    ds = ImageGroupDataset(_cfg(root), unpaired='error', lazy_init=True)
    with pytest.raises(ValueError, match='img_09.png'):
        len(ds)
    # without the background-only image it builds
    _make_voc(osp.join(root, 'fg'), {k: v for k, v in LAYOUT.items() if v})
    assert len(ImageGroupDataset(_cfg(osp.join(root, 'fg')),
                                 unpaired='error')) == 9


def test_argument_errors(root):
    for bad in (0, 4, (2, 1), (0, 2), (1, 4)):
        with pytest.raises(ValueError, match='num_references must be in'):
            ImageGroupDataset(_cfg(root), num_references=bad)
    for bad in (1.5, True, (1, 2, 3), '2'):
        with pytest.raises(TypeError, match='num_references'):
            ImageGroupDataset(_cfg(root), num_references=bad)
    with pytest.raises(ValueError, match='unpaired must be one of'):
        ImageGroupDataset(_cfg(root), unpaired='skip')
    with pytest.raises(ValueError, match='no "img_labels"'):
        ImageGroupDataset(_cfg(root, label_source='none'))


def test_seeded_and_reproducible(root):
    ds = ImageGroupDataset(_cfg(root), num_references=(1, 3))
    order = [3, 4, 7, 0, 4, 5, 6, 1, 2, 7] * 5

    def run(seed):
        np.random.seed(seed)
        return [ds.draw_references(i) for i in order]

    first = run(5)
    assert run(5) == first
    assert run(6) != first
    # the group size is drawn per item, 1 to 3
    assert {len(r) for r in first} == {1, 2, 3}
    # the same query gets different references over an epoch's draws
    assert len({tuple(r) for i, r in zip(order, first) if i == 4}) > 1


def test_getitem_runs_the_pipeline_per_image(root):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackWSSSInputs')
    ]
    ds = ImageGroupDataset(_cfg(root, pipeline=pipeline), num_references=2)
    np.random.seed(0)
    flips_differ = False
    for idx in (0, 4, 7, 8, 9):
        for _ in range(6):
            group = ds[idx]
            assert len(group) == 3
            query, refs = group[0], group[1:]
            meta = query['data_samples'].metainfo
            assert meta['group_role'] == 'query'
            assert 'pair_class' not in meta
            assert _name(meta['img_path']) == NAMES[idx]
            for item in group:  # each image with its own labels
                m = item['data_samples'].metainfo
                labels = LAYOUT[_name(m['img_path'])]
                assert m['img_labels'].tolist() == labels
                score = item['data_samples'].gt_score
                assert torch.nonzero(score).flatten().add(1).tolist() == labels
                assert item['inputs'].shape == (3, 8, 10)
            for ref in refs:
                m = ref['data_samples'].metainfo
                assert m['group_role'] == 'reference'
                if LAYOUT[NAMES[idx]]:
                    assert m['pair_class'] in LAYOUT[NAMES[idx]]
                    assert m['pair_class'] in m['img_labels'].tolist()
                else:
                    assert m['pair_class'] == -1
            if idx == 8:  # its own reference, augmented on its own
                assert _name(refs[0]['data_samples'].img_path) == 'img_08'
                flip_q = query['data_samples'].flip
                flips_differ |= any(r['data_samples'].flip != flip_q
                                    for r in refs)
                if refs[0]['data_samples'].flip == flip_q:
                    assert torch.equal(refs[0]['inputs'], query['inputs'])
                else:
                    assert torch.equal(refs[0]['inputs'],
                                       query['inputs'].flip(-1))
    assert flips_differ


def _subset_layout():
    # 24 images: one class each (1 + i % 3), every 4th also has class 4
    return {
        f's_{i:02d}': [1 + i % 3] + ([4] if i % 4 == 0 else [])
        for i in range(24)
    }


@pytest.mark.parametrize('how', ['subset_fraction', 'wrapper', 'instance'])
def test_references_come_from_the_subset(tmp_path, how):
    init_default_scope('mmseg')
    layout = _subset_layout()
    root = _make_voc(str(tmp_path / 'voc'), layout)
    if how == 'subset_fraction':
        inner = _cfg(root, pipeline=PACK, subset_fraction=0.5, subset_seed=2)
    elif how == 'wrapper':
        inner = dict(type='ClassBalancedSubsetDataset',
                     dataset=_cfg(root, pipeline=PACK),
                     fraction=0.5,
                     seed=2)
    else:
        inner = ClassBalancedSubsetDataset(_cfg(root, pipeline=PACK),
                                           fraction=0.5,
                                           seed=2)
    ds = ImageGroupDataset(inner, num_references=3)
    ref = WSSSVOCDataset(
        **{
            k: v
            for k, v in _cfg(root, subset_fraction=0.5, subset_seed=2).items()
            if k != 'type'
        })
    subset = {_name(ref.get_data_info(i)['img_path']) for i in range(len(ref))}
    assert 12 <= len(subset) < 24
    assert len(ds) == len(subset)
    np.random.seed(0)
    seen = set()
    for idx in range(len(ds)):
        q = _name(ds.get_data_info(idx)['img_path'])
        assert q in subset
        for _ in range(20):
            for item in ds[idx][1:]:
                r = _name(item['data_samples'].img_path)
                assert r in subset
                assert set(layout[r]) & set(layout[q])
                seen.add(r)
    assert len(seen) > len(subset) // 2


def _item(name, role=None):
    from mmseg.structures import SegDataSample
    ds = SegDataSample(metainfo=dict(img_path=name))
    return dict(inputs=torch.zeros(3, 2, 2), data_samples=ds)


def test_group_collate():
    assert FUNCTIONS.get('group_collate') is group_collate
    batch = [[_item('a'), _item('b')], [_item('c'),
                                        _item('d'),
                                        _item('e')], [_item('f')]]
    out = group_collate(batch)
    assert len(out['inputs']) == 6
    assert [d.img_path for d in out['data_samples']] == list('abcdef')
    assert [d.group_id for d in out['data_samples']] == [0, 0, 1, 1, 1, 2]
    # plain items: exactly pseudo_collate
    plain = [_item('a'), _item('b')]
    got, want = group_collate(plain), pseudo_collate(plain)
    assert got.keys() == want.keys()
    assert [d.img_path for d in got['data_samples']] == ['a', 'b']
    assert all('group_id' not in d for d in got['data_samples'])
    assert group_collate([1, 2]) == pseudo_collate([1, 2])
    with pytest.raises(TypeError, match='mixes'):
        group_collate([[_item('a')], _item('b')])
    with pytest.raises(ValueError, match='group 1 is empty'):
        group_collate([[_item('a')], []])


def _loader_cfg(dataset, sampler='DefaultSampler', num_workers=0, bs=4):
    return dict(batch_size=bs,
                num_workers=num_workers,
                persistent_workers=False,
                sampler=dict(type=sampler, shuffle=True),
                collate_fn=dict(type='group_collate'),
                dataset=dataset)


def _groups(batch):
    """Per group_id: the image names, query first."""
    groups = {}
    for d in batch['data_samples']:
        groups.setdefault(d.group_id, []).append(
            (d.group_role, _name(d.img_path)))
    for roles in groups.values():
        assert [r for r, _ in roles
                ] == ['query'] + ['reference'] * (len(roles) - 1)
    return [[n for _, n in roles] for _, roles in sorted(groups.items())]


def test_runner_dataloader_on_the_synthetic_set(tmp_path):
    init_default_scope('mmseg')
    data_root = generate_synthetic_wsss(str(tmp_path / 'syn'), **TINY_GENERATE)
    synthetic = dict(type='SyntheticWSSSDataset',
                     data_root=data_root,
                     generate=None,
                     ann_file='ImageSets/Segmentation/train.txt',
                     data_prefix=dict(img_path='JPEGImages',
                                      seg_map_path='SegmentationClass'),
                     pipeline=[
                         dict(type='LoadImageFromFile'),
                         dict(type='RandomFlip', prob=0.5),
                         dict(type='PackWSSSInputs')
                     ])
    labels = {
        _name(info['img_path']): set(info['img_labels'].tolist())
        for info in DATASETS.build(synthetic).load_data_list()
    }
    assert any(not v for v in labels.values())  # a background-only image
    dataset = dict(type='ImageGroupDataset',
                   dataset=synthetic,
                   num_references=2)

    def epoch(seed, workers):
        loader = Runner.build_dataloader(_loader_cfg(dataset,
                                                     num_workers=workers),
                                         seed=seed)
        if not workers:  # the main process draws
            np.random.seed(seed)
        out = []
        for batch in loader:
            assert len(batch['inputs']) == 3 * len(_groups(batch))
            img = batch['inputs'][0]
            assert img.shape == (3, 40, 40) and img.dtype == torch.uint8
            out.extend(_groups(batch))
        return out

    groups = epoch(0, 2)  # two workers, seeded by mmengine
    assert sorted(g[0] for g in groups) == sorted(labels)
    for q, *refs in groups:
        assert len(refs) == 2
        for r in refs:
            assert labels[q] & labels[r] if labels[q] else r == q
    assert epoch(0, 2) == groups  # reproducible with the seed
    assert epoch(1, 2) != groups
    assert epoch(3, 0) == epoch(3, 0)


def _dist_worker(rank, port, root, out_dir):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=port)
    dist.init_process_group('gloo', rank=rank, world_size=2)
    try:
        init_default_scope('mmseg')
        dataset = dict(type='ImageGroupDataset',
                       dataset=_cfg(root, pipeline=PACK),
                       num_references=(1, 3),
                       unpaired='any')
        result = {}
        # both ranks draw from the same seed (mmengine's default
        # diff_rank_seed=False); their queries differ
        np.random.seed(0)
        loader = Runner.build_dataloader(_loader_cfg(dataset, bs=2), seed=0)
        result['default'] = [g for b in loader for g in _groups(b)]
        loader = Runner.build_dataloader(_loader_cfg(dataset,
                                                     'InfiniteSampler',
                                                     bs=2),
                                         seed=0)
        it = iter(loader)
        result['infinite'] = [g for _ in range(5) for g in _groups(next(it))]
        with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
            json.dump(result, f)
    finally:
        dist.destroy_process_group()


def test_distributed_samplers_two_ranks(root, tmp_path):
    """A real 2-process gloo run: the ranks get disjoint queries (together
    each image once per pass) and every group pairs."""
    out_dir = str(tmp_path / 'out')
    os.makedirs(out_dir)
    torch.multiprocessing.start_processes(_dist_worker,
                                          args=(free_port(), root, out_dir),
                                          nprocs=2,
                                          start_method='fork')
    res = []
    for rank in range(2):
        with open(osp.join(out_dir, f'rank{rank}.json')) as f:
            res.append(json.load(f))
    for sampler, passes in (('default', 1), ('infinite', 2)):
        queries = [[g[0] for g in r[sampler]] for r in res]
        assert [len(q) for q in queries] == [5 * passes] * 2
        for p in range(passes):
            # each pass over the 10 images is split between the ranks
            first, second = (q[5 * p:5 * p + 5] for q in queries)
            assert set(first).isdisjoint(second)
            assert sorted(first + second) == NAMES
        for r in res:
            for q, *refs in r[sampler]:
                assert 1 <= len(refs) <= 3
                for ref in refs:
                    if LAYOUT[q]:
                        assert set(LAYOUT[q]) & set(LAYOUT[ref])
