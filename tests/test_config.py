# Copyright (c) OpenMMLab. All rights reserved.
"""Every config builds: model, pipelines and evaluators."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import METRICS, MODELS, TRANSFORMS

import mmwsss  # noqa: F401
from mmwsss.testing import REPO_ROOT

CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)


def test_configs_found():
    assert len(CONFIGS) >= 8


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model.copy()
    # Offline: never load the pretrained checkpoints named in init_cfg.
    model_cfg.backbone.init_cfg = None
    model = MODELS.build(model_cfg)
    assert model.cam_head.num_classes + 1 == {
        'voc12aug': 21,
        'coco14': 81,
        'synthetic': 6,
        'msrc21': 21
    }[osp.basename(path).split('_')[-1].split('-')[0]]
    for split in ('train', 'val', 'test'):
        for t in cfg[f'{split}_dataloader'].dataset.pipeline:
            TRANSFORMS.build(t)
    for ev in (cfg.val_evaluator if isinstance(cfg.val_evaluator, list) else
               [cfg.val_evaluator]) + [cfg.test_evaluator]:
        METRICS.build(ev)
    # naming grammar: {method}_{backbone}_{N}xb{M}-{schedule}_{dataset}-{crop}
    name = osp.splitext(osp.basename(path))[0]
    parts = name.split('_')
    assert len(parts) == 4, name
    assert parts[2].split('-')[0].count('xb') == 1, name
    bs = int(parts[2].split('-')[0].split('xb')[1])
    assert cfg.train_dataloader.batch_size == bs, name


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS if 'synthetic' in p or 'msrc21' in p],
    ids=osp.basename)
def test_cpu_config_forward(path):
    """The configs that run here do a train step and a predict on CPU."""
    from mmwsss.testing import demo_wsss_inputs
    cfg = Config.fromfile(path)
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    n_cls = model.cam_head.num_classes + 1
    data = demo_wsss_inputs(2, (3, 64, 64), num_classes=n_cls)
    batch = model.data_preprocessor(data, training=True)
    loss = model(**batch, mode='loss')['loss_cls']
    assert torch.isfinite(loss)
    model.eval()
    data = demo_wsss_inputs(1, (3, 64, 64), num_classes=n_cls)
    batch = model.data_preprocessor(data, training=False)
    out = model(**batch, mode='predict')[0]
    assert out.pred_sem_seg.data.shape == (1, 64, 64)
    assert np.isin(out.pred_sem_seg.data.unique().numpy(),
                   [0] + out.cam_labels.tolist()).all()
