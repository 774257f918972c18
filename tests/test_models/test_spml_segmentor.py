# Copyright (c) OpenMMLab. All rights reserved.
"""SPML's embedding head, softmax classifier and segmentor."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmwsss  # noqa: F401
from mmwsss.models import (SPMLEmbeddingHead, SPMLSoftmaxHead,
                           batch_pixel_maps, embedding_random_walk)
from mmwsss.testing import REGISTRY_CONFIGS, segmentor_demo_batch


def _model(**test_cfg):
    cfg = copy.deepcopy(REGISTRY_CONFIGS['model']['SPMLSegmentor'])
    cfg['test_cfg'].update(test_cfg)
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(cfg)


def _loss(model, data):
    model.train()
    with DefaultScope.overwrite_default_scope('mmseg'):
        batch = model.data_preprocessor(data, True)
        return model(**batch, mode='loss')


def test_embedding_head_unit_and_no_coordinates():
    head = SPMLEmbeddingHead(in_channels=8, embed_dims=4, dilations=(1, 2))
    out = head([torch.randn(2, 8, 5, 6)])
    # D channels (the loss appends the coordinates itself), stride 8 -> 4
    assert out.shape == (2, 4, 10, 12)
    assert torch.allclose(out.norm(dim=1), torch.ones(2, 10, 12), atol=1e-5)


def test_softmax_head_ignores_unlabelled_and_empty_batch():
    head = SPMLSoftmaxHead(embed_dims=4, num_classes=3, channels=4)
    emb = torch.randn(2, 4, 5, 5)
    labels = torch.full((2, 5, 5), 254)
    loss = head.loss(emb, labels)  # no labelled pixel: 0, not NaN
    assert loss.item() == 0
    loss.backward()
    labels[0, 0, 0] = 2
    labels[1] = 255
    assert torch.isfinite(head.loss(emb, labels))


def test_batch_pixel_maps_pads_bottom_right():
    """Hand-checked: a 2x3 and a 3x2 map in a 3x4 batch."""
    a, b = SegDataSample(), SegDataSample()
    a.gt_weak_seg = PixelData(
        data=torch.tensor([[[0, 1, 254], [2, 2, 0]]], dtype=torch.uint8))
    b.gt_weak_seg = PixelData(
        data=torch.tensor([[[1, 1], [254, 3], [0, 0]]], dtype=torch.uint8))
    out = batch_pixel_maps([a, b], 'gt_weak_seg', (3, 4), 255)
    assert out.tolist() == [
        [[0, 1, 254, 255], [2, 2, 0, 255], [255, 255, 255, 255]],
        [[1, 1, 255, 255], [254, 3, 255, 255], [0, 0, 255, 255]],
    ]
    a.gt_region_map = PixelData(data=torch.tensor([[[7, 8]]],
                                                  dtype=torch.int32))
    with pytest.raises(KeyError, match='LoadRegionMap'):
        batch_pixel_maps([a, b], 'gt_region_map', (3, 4), -1)
    regions = batch_pixel_maps([a], 'gt_region_map', (2, 3), -1)
    assert regions.tolist() == [[[7, 8, -1], [-1, -1, -1]]]


def test_loss_finite_with_gradients(tmp_path):
    torch.manual_seed(0)
    model = _model()
    data = segmentor_demo_batch(str(tmp_path))
    losses = _loss(model, data)
    assert set(losses) == {
        'loss_spml_sem_ann', 'loss_spml_sem_occ', 'loss_spml_img_sim',
        'loss_spml_cls'
    }
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grad = model.embedding_head.aspp[0].weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert model.classifier.cls.weight.grad.abs().sum() > 0


def test_loss_without_labelled_pixel(tmp_path):
    """Tags-only crops may have no labelled pixel: finite, no NaN."""
    torch.manual_seed(0)
    model = _model()
    data = segmentor_demo_batch(str(tmp_path))
    for ds in data['data_samples']:
        ds.gt_weak_seg.data[:] = 254
    losses = _loss(model, data)
    total = sum(losses.values())
    assert all(torch.isfinite(v) for v in losses.values()), losses
    total.backward()
    assert all(
        torch.isfinite(p.grad).all() for p in model.parameters()
        if p.grad is not None)


def test_classifier_stage_trains_only_the_classifier(tmp_path):
    cfg = copy.deepcopy(REGISTRY_CONFIGS['model']['SPMLSegmentor'])
    cfg['train_stage'] = 'classifier'
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg)
    data = segmentor_demo_batch(str(tmp_path))
    losses = _loss(model, data)
    assert set(losses) == {'loss_spml_cls'}
    losses['loss_spml_cls'].backward()
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert not model.backbone.training
    assert model.classifier.cls.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('seed', ['softmax', 'cams'])
def test_predict_stage2_fields(seed, tmp_path):
    torch.manual_seed(0)
    model = _model(seed=seed)
    data = segmentor_demo_batch(str(tmp_path))
    model.eval()
    with DefaultScope.overwrite_default_scope('mmseg'):
        preds = model.test_step(data)
    for pred in preds:
        labels = pred.cam_labels
        assert pred.cams.shape == (len(labels), 32, 32)
        assert pred.bg_score.shape == (1, 32, 32)
        assert pred.pred_sem_seg.data.shape == (1, 32, 32)
        assert float(pred.cams.max()) <= 1 + 1e-6
        assert set(pred.pred_sem_seg.data.unique().tolist()) <= \
            {0} | set(labels.tolist())
        assert pred.metainfo['cam_bg_rule']['output'] == 'propagated'


def test_predict_two_embedding_clusters(tmp_path):
    """Hand-checked: the walk fills the CAM's hole inside its embedding
    cluster and removes a blob in the other cluster; masks follow the
    clusters exactly."""
    model = _model(seed='cams', flip=False, radius=3, num_iters=64)
    model.eval()
    grid = torch.zeros(2, 8, 8)  # stride 4 on a 32 x 32 image
    grid[0, :, :4] = 1  # left half: e = (1, 0); right half: (0, 1)
    grid[1, :, 4:] = 1
    model._forward = lambda x, *a: grid[None].expand(len(x), -1, -1, -1)
    cam = torch.zeros(1, 32, 32)
    cam[0, :, :16] = 1
    cam[0, 8:12, 4:8] = 0  # a hole in the left cluster
    cam[0, 20:24, 24:28] = 1  # a blob in the right cluster
    ds = SegDataSample(
        metainfo=dict(
            img_path=str(tmp_path / 'x.png'),
            ori_shape=(32, 32),
            img_shape=(32, 32)))
    ds.set_data(dict(cams=cam, cam_labels=torch.tensor([3])))
    inputs = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        pred = model.predict(inputs, [ds])[0]
    expected = torch.zeros(1, 32, 32, dtype=torch.int64)
    expected[0, :, :16] = 3
    assert torch.equal(pred.pred_sem_seg.data, expected)
    # the walked maps: the hole above the background, the blob below
    hole, blob = (slice(8, 12), slice(4, 8)), (slice(20, 24), slice(24, 28))
    assert (pred.cams[0][hole] > pred.bg_score[0][hole]).all()
    assert (pred.cams[0][blob] < pred.bg_score[0][blob]).all()


def test_embedding_random_walk_stays_in_cluster():
    emb = F.normalize(torch.tensor([[1.0, 1.0, 0.0, 0.0],
                                    [0.0, 0.0, 1.0, 1.0]]), dim=0)
    emb = emb.reshape(2, 1, 4)
    scores = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).reshape(1, 1, 4)
    out = embedding_random_walk(emb, scores, radius=2, num_iters=50)
    assert torch.allclose(out[0, 0], torch.tensor([0.5, 0.5, 0.0, 0.0]),
                          atol=1e-4)
