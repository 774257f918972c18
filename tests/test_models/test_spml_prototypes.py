# Copyright (c) OpenMMLab. All rights reserved.
"""SPML's nearest-prototype labelling: the bank of labelled segment
prototypes (fitted state) and ``test_cfg.seed='prototypes'``."""
import copy
import math

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch.utils.data import DataLoader

import mmwsss  # noqa: F401
from mmwsss.models.utils import (image_segments, labelled_segment_prototypes,
                                 neighbour_histograms)
from mmwsss.testing import REGISTRY_CONFIGS, segmentor_demo_batch


def _model(**test_cfg):
    cfg = copy.deepcopy(REGISTRY_CONFIGS['model']['SPMLSegmentor'])
    cfg['test_cfg'].update(test_cfg)
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(cfg)


def test_neighbour_histograms_hand_computed():
    bank = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])
    labels = torch.tensor([1, 1, 0, 2])
    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # k = 2: (1, 0) -> cos 1, 0.8 -> labels 1, 1; (0, 1) -> labels 0, 2
    hist = neighbour_histograms(queries, bank, labels, 3, num_neighbors=2)
    assert hist.tolist() == [[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]]
    # k above the bank size: the whole bank
    hist = neighbour_histograms(queries, bank, labels, 3, num_neighbors=20)
    assert hist.tolist() == [[0.25, 0.5, 0.25]] * 2
    with pytest.raises(ValueError, match='empty'):
        neighbour_histograms(queries, bank[:0], labels[:0], 3)


def test_labelled_segment_prototypes_hand_computed():
    # 2 x 3 pixels, segments 0, 1, 2 (3 is empty), D = 2
    segments = torch.tensor([[0, 0, 1], [0, 2, 1]])
    emb = torch.zeros(2, 2, 3)
    emb[0] = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    emb[1] = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0]])
    labels = torch.tensor([[1, 1, 255], [255, 3, 0]])
    protos, major = labelled_segment_prototypes(emb, segments, 4, labels, 4)
    # segment 0: (1,0) + (1,0) + (0,1) = (2, 1), labels 1, 1, none -> 1;
    # segment 1: labels none, 0 tie -> none: dropped; segment 2: (1, 0), 3
    assert major.tolist() == [1, 3]
    expected = torch.tensor([[2 / math.sqrt(5), 1 / math.sqrt(5)],
                             [1.0, 0.0]])
    assert torch.allclose(protos, expected)


def test_image_segments_one_per_cell_on_a_small_grid():
    """A 12 x 12 start on a 4 x 6 map gives every cell its own cluster
    (round(linspace) rows and columns are distinct), a fixed point."""
    emb = torch.nn.functional.normalize(torch.randn(3, 4, 6), dim=0)
    seg, num = image_segments(emb, (12, 12))
    assert num == 144
    assert seg.unique().numel() == 24


def _two_cluster_model(**cfg):
    model = _model(seed='prototypes', flip=False, num_iters=0, **cfg)
    model.eval()
    grid = torch.zeros(2, 8, 8)  # stride 4 on a 32 x 32 image
    grid[0, :, :4] = 1  # left half: e = (1, 0); right half: (0, 1)
    grid[1, :, 4:] = 1
    model._forward = lambda x, *a: grid[None].expand(len(x), -1, -1, -1)
    model.embedding_head.embed_dims = 2  # the stubbed embedding's
    return model


def _sample(tmp_path, fg):
    ds = SegDataSample(
        metainfo=dict(
            img_path=str(tmp_path / 'x.png'),
            ori_shape=(32, 32),
            img_shape=(32, 32)))
    score = torch.zeros(5)
    score[torch.tensor(fg) - 1] = 1
    ds.set_data(dict(gt_score=score))
    return ds


def test_prototype_seed_predict_hand_computed(tmp_path):
    """Left cells are near the class-3 prototypes, right cells near the
    background ones: the masks follow; class 5 (tagged, never in the bank)
    gets a zero map."""
    model = _two_cluster_model(num_neighbors=3)
    bank = torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3)
    model.load_fitted_state(
        dict(
            prototypes=bank,
            labels=torch.tensor([3, 3, 3, 0, 0, 0]),
            meta=dict(num_classes=6)),
        source='bank.pth')
    assert model.is_fitted
    with torch.no_grad():
        pred = model.predict(torch.zeros(1, 3, 32, 32),
                             [_sample(tmp_path, [3, 5])])[0]
    expected = torch.zeros(1, 32, 32, dtype=torch.int64)
    expected[0, :, :16] = 3
    assert torch.equal(pred.pred_sem_seg.data, expected)
    assert pred.cam_labels.tolist() == [3, 5]
    # away from the bilinear blend of the two middle cells (x4 upsampling)
    left, right = (slice(None), slice(0, 12)), (slice(None), slice(20, 32))
    assert torch.allclose(pred.cams[0][left], torch.ones(32, 12))
    assert torch.allclose(pred.cams[0][right], torch.zeros(32, 12))
    assert torch.allclose(pred.bg_score[0][right], torch.ones(32, 12))
    assert pred.cams[1].abs().max() == 0  # class 5: no prototype


def test_prototype_seed_two_scales_hand_computed(tmp_path):
    """Scales (1, 0.5): an embedding of the same two halves at every input
    size; the half-size maps (4 x 4 cells), resized to the 8 x 8 grid,
    blend cells 3 and 4, and the average moves the class map there."""
    model = _two_cluster_model(num_neighbors=3, prototype_scales=(1.0, 0.5))

    def halves(x, *args):
        h, w = x.shape[-2] // 4, x.shape[-1] // 4
        grid = torch.zeros(len(x), 2, h, w)
        grid[:, 0, :, :w // 2] = 1
        grid[:, 1, :, w // 2:] = 1
        return grid

    model._forward = halves
    model.load_fitted_state(
        dict(
            prototypes=torch.tensor([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3),
            labels=torch.tensor([3, 3, 3, 0, 0, 0]),
            meta=dict(num_classes=6)))
    with torch.no_grad():
        pred = model.predict(torch.zeros(1, 3, 32, 32),
                             [_sample(tmp_path, [3])])[0]
    expected = torch.zeros(1, 32, 32, dtype=torch.int64)
    expected[0, :, :16] = 3
    assert torch.equal(pred.pred_sem_seg.data, expected)
    # cell 3 of the class map: (1 + 0.75) / 2 = 0.875, the half-size map
    # being bilinear (its cell 1 = 1, cell 2 = 0, at 1.25); pixel 13 lies
    # at 2.875 between cells 2 (1.0) and 3 (0.875)
    assert torch.allclose(pred.cams[0][:, 13], torch.full((32, ), 0.890625))
    assert torch.allclose(pred.cams[0][:, :8], torch.ones(32, 8))


def test_prototype_seed_errors(tmp_path):
    model = _two_cluster_model()
    assert not model.is_fitted
    with pytest.raises(RuntimeError, match='FitModelStateHook'):
        model.predict(torch.zeros(1, 3, 32, 32), [_sample(tmp_path, [3])])
    with pytest.raises(ValueError, match='prototype_dataloader'):
        model.fit_state()
    with pytest.raises(ValueError, match='bank.pth has 4 classes'):
        model.load_fitted_state(
            dict(
                prototypes=torch.zeros(1, 2),
                labels=torch.zeros(1, dtype=torch.int64),
                meta=dict(num_classes=4)), 'bank.pth')
    with pytest.raises(ValueError, match='3-d prototypes'):
        model.load_fitted_state(
            dict(
                prototypes=torch.zeros(1, 3),
                labels=torch.zeros(1, dtype=torch.int64),
                meta=dict(num_classes=6)), 'bank.pth')
    with pytest.raises(KeyError, match='lacks'):
        model.load_fitted_state(dict(prototypes=torch.zeros(1, 2)), 'b.pth')
    # another seed has nothing to fit
    assert _model(seed='softmax').is_fitted


@pytest.mark.parametrize('scales', [(1.0, ), (1.0, 0.5)])
def test_fit_state_on_a_real_loader(tmp_path, scales):
    """The bank of two real images (a dataloader, the model's own
    embedding; at one or two input scales): every segment's prototype and
    majority label of the mask, the same as computed by hand from the
    pieces."""
    torch.manual_seed(0)
    data = segmentor_demo_batch(str(tmp_path))
    items = [
        dict(inputs=x, data_samples=ds)
        for x, ds in zip(data['inputs'], data['data_samples'])
    ]
    model = _model(
        seed='prototypes',
        flip=True,
        prototype_grid=4,
        prototype_scales=scales)
    model.prototype_dataloader = DataLoader(
        items, batch_size=2, collate_fn=pseudo_collate)
    model.eval()
    with DefaultScope.overwrite_default_scope('mmseg'):
        metrics = model.fit_state()
        batch = model.data_preprocessor(data, False)
    assert metrics['spml_prototypes/num_images'] == 2
    state = model.fitted_state()
    assert metrics['spml_prototypes/num_prototypes'] == len(state['labels'])
    # by hand from the pieces: per image, per scale (32 px at 1, 16 at 0.5)
    embs = []
    with torch.no_grad():
        for scale in scales:
            x = torch.nn.functional.interpolate(
                batch['inputs'], scale_factor=scale, mode='bilinear',
                align_corners=False) if scale != 1 else batch['inputs']
            embs.append(model._embeddings_and_probs(x, softmax=False)[0])
    protos, labels = [], []
    for i, ds in enumerate(batch['data_samples']):
        mask = ds.gt_sem_seg.data[0]
        for emb in embs:
            e = emb[i]  # the images fill the batch: every cell
            seg, num = image_segments(e, (4, 4))
            small = torch.nn.functional.interpolate(
                mask[None, None].double(), e.shape[-2:],
                mode='nearest')[0, 0].long()
            p, y = labelled_segment_prototypes(e, seg, num, small, 6)
            protos.append(p)
            labels.append(y)
            # every label is a class of that image's mask
            assert set(y.tolist()) <= set(mask.unique().tolist())
    assert [e.shape[-1] for e in embs] == [8 * s for s in (1, 0.5)][:len(
        scales)]
    assert torch.equal(state['labels'], torch.cat(labels))
    assert torch.allclose(state['prototypes'], torch.cat(protos), atol=1e-6)
    assert torch.allclose(state['prototypes'].norm(dim=1),
                          torch.ones(len(state['labels'])))


def _items(folder):
    data = segmentor_demo_batch(folder)
    return [
        dict(inputs=x, data_samples=ds)
        for x, ds in zip(data['inputs'], data['data_samples'])
    ]


def _fitted_bank(items):
    torch.manual_seed(0)
    model = _model(seed='prototypes', prototype_grid=4)
    model.prototype_dataloader = DataLoader(
        items, batch_size=1, collate_fn=pseudo_collate)
    with DefaultScope.overwrite_default_scope('mmseg'):
        metrics = model.fit_state()
    return model.fitted_state(), metrics


def _bank_worker(rank, port, folder):
    import os
    import os.path as osp

    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=port)
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.set_num_threads(1)
    try:
        # each process fits on its own image: the first and the second
        state, metrics = _fitted_bank(_items(folder)[rank:rank + 1])
        torch.save(dict(state=state, metrics=metrics),
                   osp.join(folder, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


def test_prototype_bank_two_gloo_processes(tmp_path):
    """Two gloo processes holding one image each: both get the bank of one
    process fitted on both images (in rank order) and its image count."""
    from mmwsss.testing import free_port
    folder = str(tmp_path)
    torch.multiprocessing.start_processes(
        _bank_worker,
        args=(free_port(), folder),
        nprocs=2,
        start_method='fork')
    single, metrics = _fitted_bank(_items(folder))
    assert metrics['spml_prototypes/num_images'] == 2
    for rank in range(2):
        res = torch.load(tmp_path / f'rank{rank}.pth')
        assert res['metrics'] == metrics
        assert torch.equal(res['state']['labels'], single['labels'])
        assert torch.allclose(res['state']['prototypes'],
                              single['prototypes'], atol=1e-6)
