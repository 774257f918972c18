# Copyright (c) OpenMMLab. All rights reserved.
"""Puzzle-CAM: tiling, merging, the reconstruction loss, the alpha ramp, the
segmentor's losses and its (unchanged) prediction, the configs."""
import os.path as osp
import uuid

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.model import BaseModule
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from mmwsss.models import CAMSegmentor
from mmwsss.testing import REPO_ROOT, demo_wsss_inputs, tiny_cam_model_cfg
from projects.puzzle_cam.puzzle_cam import (PuzzleCAMSegmentor, alpha_at,
                                            merge_tiles, reconstruction_loss,
                                            tile_images)

PROJECT = osp.join(REPO_ROOT, 'projects', 'puzzle_cam')
CONFIG = osp.join(PROJECT, 'configs',
                  'puzzle-cam_r18w32-d8_1xb16-600_synthetic-96x96.py')
CAM_CONFIG = osp.join(REPO_ROOT, 'configs', 'cam',
                      'cam_r18w32-d8_1xb16-600_synthetic-96x96.py')


@pytest.fixture(autouse=True)
def _drop_test_hubs():
    """Remove the MessageHub instances a test made (they are global)."""
    yield
    for name in [n for n in MessageHub._instance_dict if n in _HUBS]:
        MessageHub._instance_dict.pop(name)
    _HUBS.clear()


_HUBS = set()


def _hub(iteration=None, max_iters=None):
    """A fresh MessageHub (the current instance) with the runner's info."""
    name = f'puzzle_test_{uuid.uuid4().hex}'
    _HUBS.add(name)
    hub = MessageHub.get_instance(name)
    if iteration is not None:
        hub.update_info('iter', iteration)
    if max_iters is not None:
        hub.update_info('max_iters', max_iters)
    return hub


def _puzzle_cfg(**kwargs):
    cfg = tiny_cam_model_cfg(num_fg_classes=5)
    cfg.update(type='PuzzleCAMSegmentor', **kwargs)
    return cfg


# --------------------------------------------------------------- tiling
def test_tiles_of_an_even_batch_and_their_exact_inverse():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    tiles = tile_images(x, grid=2)
    assert tiles.shape == (8, 3, 2, 3)
    # tile-major order: tiles[t * B + b] is tile t (row-major) of image b
    assert torch.equal(tiles[0], x[0, :, :2, :3])
    assert torch.equal(tiles[1], x[1, :, :2, :3])
    assert torch.equal(tiles[2], x[0, :, :2, 3:])
    assert torch.equal(tiles[5], x[1, :, 2:, :3])
    assert torch.equal(tiles[7], x[1, :, 2:, 3:])
    assert torch.equal(merge_tiles(tiles, grid=2), x)
    assert torch.equal(merge_tiles(tiles, grid=2, size=(4, 6)), x)
    # a 3x3 grid too
    y = torch.randn(1, 2, 6, 9)
    assert torch.equal(merge_tiles(tile_images(y, 3), 3), y)


def test_tiles_of_an_odd_image_are_padded_and_merged_back():
    x = torch.arange(1, 16, dtype=torch.float32).view(1, 1, 5, 3)
    tiles = tile_images(x, grid=2)  # padded to 6 x 4: tiles of 3 x 2
    assert tiles.shape == (4, 1, 3, 2)
    assert tiles[0, 0].tolist() == [[1, 2], [4, 5], [7, 8]]
    assert tiles[1, 0].tolist() == [[3, 0], [6, 0], [9, 0]]
    assert tiles[2, 0].tolist() == [[10, 11], [13, 14], [0, 0]]
    assert tiles[3, 0].tolist() == [[12, 0], [15, 0], [0, 0]]
    assert torch.equal(merge_tiles(tiles, 2, size=(5, 3)), x)
    # tiles made multiples of 4: padded to 8 x 8
    tiles = tile_images(x, grid=2, size_divisor=4)
    assert tiles.shape == (4, 1, 4, 4)
    assert torch.equal(merge_tiles(tiles, 2, size=(5, 3)), x)


def test_merged_maps_are_cropped_or_resized_to_the_full_map():
    maps = torch.randn(4, 2, 3, 3)
    merged = merge_tiles(maps, 2)
    assert merged.shape == (1, 2, 6, 6)
    assert torch.equal(merge_tiles(maps, 2, size=(5, 4)), merged[..., :5, :4])
    assert merge_tiles(maps, 2, size=(7, 5)).shape == (1, 2, 7, 5)
    with pytest.raises(ValueError, match='whole 2x2 grids'):
        merge_tiles(torch.zeros(6, 1, 2, 2), 2)


# ------------------------------------------------------ reconstruction
def test_reconstruction_loss_by_hand():
    full = torch.tensor([[[[1., 2.]], [[3., 4.]]]])  # (1, 2, 1, 2)
    merged = torch.tensor([[[[0., 2.]], [[5., 1.]]]])
    labels = torch.tensor([[1., 0.]])
    # |full - merged| = [[1, 0]], [[2, 3]]
    assert reconstruction_loss(full, merged, labels).item() == 0.25
    assert reconstruction_loss(full, merged, labels, mask='none').item() == 1.5
    assert reconstruction_loss(
        full, merged, labels, mask='selection').item() == 0.5
    # squared: [[1, 0]], [[4, 9]]
    assert reconstruction_loss(
        full, merged, labels, distance='l2').item() == 0.25
    assert reconstruction_loss(
        full, merged, mask='none', distance='l2').item() == 3.5
    # a background-only second image: 'labels' averages over all 8 entries,
    # 'selection' adds 0 for it
    full2 = torch.cat([full, full])
    merged2 = torch.cat([merged, full])
    labels2 = torch.tensor([[1., 0.], [0., 0.]])
    assert reconstruction_loss(full2, merged2, labels2).item() == 0.125
    assert reconstruction_loss(
        full2, merged2, labels2, mask='selection').item() == 0.25
    with pytest.raises(ValueError, match='needs the image labels'):
        reconstruction_loss(full, merged)
    with pytest.raises(ValueError, match='differ in shape'):
        reconstruction_loss(full, merged[..., :1], labels)


# --------------------------------------------------------------- alpha
def test_alpha_ramp():
    # official: min(alpha * t / (T * schedule), alpha)
    assert alpha_at(0, 600, 4.0, 0.5) == 0.0
    assert alpha_at(150, 600, 4.0, 0.5) == 2.0
    assert alpha_at(300, 600, 4.0, 0.5) == 4.0
    assert alpha_at(599, 600, 4.0, 0.5) == 4.0
    assert alpha_at(0, 600, 4.0, 0.0) == 4.0  # constant
    assert alpha_at(10, None, 4.0, 0.5) == 4.0


def test_current_alpha_reads_the_message_hub():
    init_default_scope('mmseg')
    model = MODELS.build(_puzzle_cfg())
    _hub(iteration=0, max_iters=600)
    assert model.current_alpha() == 0.0
    _hub(iteration=300, max_iters=600)
    assert model.current_alpha() == 4.0
    _hub(iteration=75, max_iters=600)
    assert model.current_alpha() == 1.0
    _hub()  # no runner: the final weight
    assert model.current_alpha() == 4.0


# ------------------------------------------------------------- segmentor
def _batch(model, size=(3, 32, 32), seed=0):
    data = demo_wsss_inputs(batch_size=2, image_shape=size, seed=seed)
    return model.data_preprocessor(data, training=True)


def test_loss_terms_by_recomputation():
    """loss_pcls is the head's loss of the pooled merged tile maps, loss_re
    is alpha_t times the masked L1 distance of the maps; the total of the
    'loss' keys is L_cls + L_p-cls + alpha_t L_re."""
    torch.manual_seed(0)
    init_default_scope('mmseg')
    model = MODELS.build(_puzzle_cfg())
    batch = _batch(model)
    _hub(iteration=75, max_iters=600)  # alpha_t = 1.0
    losses = model(**batch, mode='loss')
    assert set(losses) == {
        'loss_cls', 'loss_pcls', 'loss_re', 're_dist', 'alpha_re', 'acc_cls'
    }
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert losses['alpha_re'].item() == 1.0
    # the same computation, step by step (BatchNorm in training mode uses
    # batch statistics, so it gives the same outputs again)
    inputs, samples = batch['inputs'], batch['data_samples']
    head = model.cam_head
    target = torch.stack([ds.gt_score for ds in samples])
    with torch.no_grad():
        full = head(model.extract_feat(inputs))  # (2, 5, 4, 4)
        tiles = head(model.extract_feat(tile_images(inputs, 2)))
    assert tiles.shape == (8, 5, 2, 2)
    merged = merge_tiles(tiles, 2)
    pcls = head.loss_cls(merged.mean((2, 3)), target)
    re = (target[:, :, None, None] * (full - merged).abs()).mean()
    assert torch.allclose(losses['loss_pcls'], pcls, atol=1e-6)
    assert torch.allclose(losses['re_dist'], re, atol=1e-6)
    assert torch.allclose(losses['loss_re'], re, atol=1e-6)
    assert torch.allclose(
        losses['loss_cls'],
        head.loss_cls(full.mean((2, 3)), target),
        atol=1e-6)
    total, log_vars = model.parse_losses(losses)
    assert total.item() == pytest.approx(
        (losses['loss_cls'] + losses['loss_pcls'] + losses['loss_re']).item(),
        rel=1e-6)


def test_alpha_zero_total_is_cls_plus_pcls_and_gradients_flow():
    init_default_scope('mmseg')
    model = MODELS.build(_puzzle_cfg(alpha=0.0))
    batch = _batch(model, size=(3, 40, 40))  # padded to 64 by the batch
    _hub(iteration=500, max_iters=600)
    losses = model(**batch, mode='loss')
    assert losses['loss_re'].item() == 0.0
    assert losses['re_dist'].item() > 0
    total, _ = model.parse_losses(losses)
    assert total.item() == pytest.approx(
        (losses['loss_cls'] + losses['loss_pcls']).item(), rel=1e-6)
    total.backward()
    missing = [
        n for n, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert missing == []


@MODELS.register_module(force=True)
class _PuzzleTestPoolBackbone(BaseModule):
    """A linear 'backbone' of output stride 2: 2x2 average pooling."""

    def forward(self, x):
        return [nn.functional.avg_pool2d(x, 2, ceil_mode=True)]


def _pool_model(**kwargs):
    model = PuzzleCAMSegmentor(
        backbone=dict(type='_PuzzleTestPoolBackbone'),
        cam_head=dict(type='CAMHead', in_channels=3, num_classes=2),
        data_preprocessor=dict(
            type='SegDataPreProcessor',
            mean=[0, 0, 0],
            std=[1, 1, 1],
            size_divisor=1),
        **kwargs)
    with torch.no_grad():
        model.cam_head.classifier.weight.copy_(
            torch.tensor([[1.0, 0, 0], [0, -1.0, 0]]).view(2, 3, 1, 1))
    return model


@pytest.mark.parametrize('shape', [(6, 10), (10, 6), (8, 8)])
def test_tiles_of_a_local_network_rebuild_the_full_map(shape):
    """With a network that only looks at each stride cell, the merged tile
    maps equal the full map exactly when the image is a multiple of the
    stride (not necessarily of 2 strides) and the tiles are made multiples
    of it: L_re = 0 and L_p-cls = L_cls."""
    model = _pool_model(tile_size_divisor=2, re_mask='none')
    x = torch.randn(2, 3, *shape)
    data = demo_wsss_inputs(
        batch_size=2,
        image_shape=(3, ) + shape,
        num_classes=3,
        labels=[[1], [1, 2]])
    _hub(iteration=600, max_iters=600)
    losses = model.loss(x, data['data_samples'])
    assert losses['re_dist'].item() == pytest.approx(0.0, abs=1e-6)
    assert losses['loss_pcls'].item() == pytest.approx(
        losses['loss_cls'].item(), abs=1e-6)
    if shape == (6, 10):
        # tiles of 3 x 5 (not multiples of the stride) shift the cells
        model = _pool_model(tile_size_divisor=1, re_mask='none')
        losses = model.loss(x, data['data_samples'])
        assert losses['re_dist'].item() > 1e-3


def test_odd_image_sizes_train():
    """A 7 x 5 image: tiles padded to 4 x 4, merged maps cropped to the
    full map's 4 x 3 cells; only the last, partial cells differ (the
    padding is inside the tile, outside the full image)."""
    model = _pool_model(tile_size_divisor=2)
    x = torch.randn(2, 3, 7, 5)
    data = demo_wsss_inputs(
        batch_size=2,
        image_shape=(3, 7, 5),
        num_classes=3,
        labels=[[1], [1, 2]])
    _hub(iteration=0, max_iters=10)
    losses = model.loss(x, data['data_samples'])
    assert all(torch.isfinite(v).all() for v in losses.values())
    assert losses['loss_re'].item() == 0.0  # alpha_0 = 0
    with torch.no_grad():
        full = model.cam_head(model.extract_feat(x))
        merged = merge_tiles(
            model.cam_head(model.extract_feat(tile_images(x, 2, 2))),
            2,
            size=full.shape[-2:])
    assert full.shape == merged.shape == (2, 2, 4, 3)
    assert torch.allclose(full[:, :, :3, :2], merged[:, :, :3, :2], atol=1e-6)


def test_predict_is_the_cam_segmentors():
    init_default_scope('mmseg')
    puzzle = MODELS.build(_puzzle_cfg())
    cam = MODELS.build(tiny_cam_model_cfg(num_fg_classes=5))
    cam.load_state_dict(puzzle.state_dict())
    puzzle.eval()
    cam.eval()
    data = demo_wsss_inputs(batch_size=2, image_shape=(3, 24, 40), seed=3)
    batch = puzzle.data_preprocessor(data, training=False)
    a = puzzle(**batch, mode='predict')
    data = demo_wsss_inputs(batch_size=2, image_shape=(3, 24, 40), seed=3)
    batch = cam.data_preprocessor(data, training=False)
    b = cam(**batch, mode='predict')
    for x, y in zip(a, b):
        assert torch.equal(x.cams, y.cams)
        assert torch.equal(x.pred_sem_seg.data, y.pred_sem_seg.data)
        assert torch.equal(x.pred_score, y.pred_score)
        assert torch.equal(x.cam_labels, y.cam_labels)
    assert type(puzzle).predict is CAMSegmentor.predict


@pytest.mark.parametrize('kwargs,match', [
    (dict(grid=1), 'grid must be an int >= 2'),
    (dict(grid=2.0), 'grid must be an int >= 2'),
    (dict(alpha=-1), 'alpha must be a number >= 0'),
    (dict(alpha_schedule='0.5'), 'alpha_schedule must be a number'),
    (dict(re_loss='l3'), 're_loss must be one of'),
    (dict(re_mask='masking'), 're_mask must be one of'),
    (dict(re_level='logits'), 're_level must be one of'),
    (dict(tile_size_divisor=0), 'tile_size_divisor must be an int >= 1'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _pool_model(**kwargs)


# --------------------------------------------------------------- configs
def test_config_is_the_baseline_but_the_model():
    cfg = Config.fromfile(CONFIG)
    base = Config.fromfile(CAM_CONFIG)
    puzzle_keys = {
        'type', 'grid', 'alpha', 'alpha_schedule', 're_loss', 're_mask',
        're_level', 'tile_size_divisor'
    }
    assert cfg.model.type == 'PuzzleCAMSegmentor'
    assert {k: v for k, v in cfg.model.items() if k not in puzzle_keys} == \
        {k: v for k, v in base.model.items() if k != 'type'}
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'optim_wrapper', 'param_scheduler', 'train_cfg', 'test_cfg',
                'custom_hooks', 'default_hooks', 'randomness',
                'test_evaluator', 'val_evaluator'):
        assert cfg[key] == base[key], key
    assert cfg.custom_imports.imports == [
        'mmwsss', 'projects.puzzle_cam.puzzle_cam'
    ]
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert isinstance(model, PuzzleCAMSegmentor)
    assert (model.alpha, model.alpha_schedule, model.grid) == (4.0, 0.5, 2)


def test_pipeline_config_is_the_cam_chain_with_this_classifier():
    """The project's pipeline inherits the CAM graph: its two stages are the
    CAM chain's first two, with the same options and report keys."""
    from mmwsss.apis.pipeline import load_pipeline_config
    cam = load_pipeline_config(
        osp.join(REPO_ROOT, 'configs', 'pipelines',
                 'pipeline_cam-deeplabv2_synthetic.py'))
    cfg = load_pipeline_config(
        osp.join(PROJECT, 'configs', 'pipeline_puzzle-cam_synthetic.py'))
    assert [s['name'] for s in cfg.stages] == ['classifier', 'pseudo_masks']
    assert [s['config'] for s in cfg.stages] == [osp.normpath(CONFIG)] * 2
    for ours, theirs in zip(cfg.stages, cam.stages[:2]):
        assert {k: v for k, v in ours.items() if k != 'config'} == {
            k: v
            for k, v in theirs.items() if k != 'config'
        }
