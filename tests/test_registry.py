# Copyright (c) OpenMMLab. All rights reserved.
"""Every module mmwsss registers is built; every segmentor trains and
predicts (timm's registry-wide test, on mmseg's registries).

The modules are found by walking every registry of the process for classes
of mmwsss (after importing all of mmwsss's modules), so a newly registered
module without an entry in :data:`~mmwsss.testing.REGISTRY_CONFIGS` fails
:func:`test_every_registered_module_has_a_minimal_config`.
"""
import os.path as osp

import numpy as np
import pytest
import torch

from mmwsss.datasets.synthetic import generate_synthetic_wsss
from mmwsss.testing import (REGISTRY_CONFIGS, TINY_GENERATE, build_registered,
                            import_submodules, is_segmentor,
                            registered_modules, run_segmentor,
                            segmentor_demo_batch)

import_submodules('mmwsss')
REGISTERED = registered_modules('mmwsss')
MODULES = sorted((key, name) for key, names in REGISTERED.items()
                 for name in names)
SEGMENTORS = sorted(name for name, (_, cls) in REGISTERED['model'].items()
                    if is_segmentor(cls))

#: How many modules each registry holds; a new module changes this on
#: purpose (and needs an entry in REGISTRY_CONFIGS).
EXPECTED_COUNTS = {
    'model': 23,
    'dataset': 7,
    'transform': 11,
    'metric': 2,
    'hook': 7,
    'loop': 1,
    'mmwsss:pipeline stage kind': 4,
    'mmengine:function': 1,
}
EXPECTED_SEGMENTORS = [
    'AffinityNet', 'CAMSegmentor', 'CRFSegTTAModel', 'ClassPatternSegmentor',
    'IRNet', 'RelabelSegmentor', 'SPMLSegmentor'
]


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    """A tiny synthetic set (``{data_root}``) and a work folder."""
    root = tmp_path_factory.mktemp('registry')
    data_root = generate_synthetic_wsss(str(root / 'data'), **TINY_GENERATE)
    work = root / 'work'
    work.mkdir()
    return data_root, str(work)


def test_every_registered_module_has_a_minimal_config():
    """Both ways: nothing registered lacks a config, no config is stale."""
    missing = [f'{k}.{n}' for k, n in MODULES
               if n not in REGISTRY_CONFIGS.get(k, {})]
    assert not missing, (
        f'registered without a minimal config in mmwsss/testing/'
        f'_registry_configs.py (REGISTRY_CONFIGS): {missing}')
    stale = [f'{k}.{n}' for k, names in REGISTRY_CONFIGS.items()
             for n in names if n not in REGISTERED.get(k, {})]
    assert not stale, f'configs of modules that are not registered: {stale}'


def test_a_new_module_is_found_without_a_config():
    """What the check above relies on: a class of mmwsss registered into
    any registry (here mmseg's HOOKS) is found, and has no config."""
    from mmseg.registry import HOOKS

    class NewHookForTest:
        pass

    NewHookForTest.__module__ = 'mmwsss.engine.hooks.new_hook_for_test'
    HOOKS.register_module(module=NewHookForTest)
    try:
        found = registered_modules('mmwsss')['hook']
        assert found['NewHookForTest'] == (HOOKS, NewHookForTest)
        assert 'NewHookForTest' not in REGISTRY_CONFIGS['hook']
    finally:
        HOOKS._module_dict.pop('NewHookForTest')


def test_registry_counts(record_property):
    """The numbers the suite reports: modules built, segmentors run."""
    counts = {k: len(v) for k, v in REGISTERED.items()}
    record_property('modules_built', len(MODULES))
    record_property('models_run', len(SEGMENTORS))
    print(f'registry: built {len(MODULES)} modules, ran {len(SEGMENTORS)} '
          f'models ({", ".join(SEGMENTORS)})')
    assert counts == EXPECTED_COUNTS
    assert len(MODULES) == 56
    assert SEGMENTORS == EXPECTED_SEGMENTORS


@pytest.mark.parametrize('key,name', MODULES,
                         ids=[f'{k}.{n}' for k, n in MODULES])
def test_build(key, name, folders):
    registry, cls = REGISTERED[key][name]
    cfg = REGISTRY_CONFIGS[key][name]
    built = build_registered(key, name, registry, cfg, *folders)
    if key == 'mmwsss:pipeline stage kind':
        assert built is cls
    elif key == 'mmengine:function':
        assert built.func is cls
    else:
        assert type(built) is cls
    if key == 'dataset':  # the images of the synthetic set it selects
        n_train = TINY_GENERATE['num_train']
        if name == 'WSSSFolderDataset':  # every image of the folder
            assert len(built) == n_train + TINY_GENERATE['num_val']
        elif name == 'ClassBalancedSubsetDataset':  # at least half
            assert n_train // 2 <= len(built) < n_train
        elif name == 'PerClassDrawDataset':  # at most 2 per class
            assert 0 < len(built) <= 2 * 5
        else:
            assert len(built) == n_train
        info = built.get_data_info(0)
        assert info['img_path'].startswith(folders[0])
        assert len(info['gt_score']) == len(built.metainfo['classes']) - 1


@pytest.mark.parametrize('name', SEGMENTORS)
def test_segmentor_loss_and_predict(name, folders):
    torch.manual_seed(0)
    registry, cls = REGISTERED['model'][name]
    model = build_registered('model', name, registry,
                             REGISTRY_CONFIGS['model'][name], *folders)
    data = segmentor_demo_batch(osp.join(folders[1], f'images_{name}'))
    losses, preds = run_segmentor(model, data)
    from mmengine.model import BaseTTAModel
    if losses is None:
        assert isinstance(model, BaseTTAModel)
    else:
        assert losses and all(
            torch.isfinite(v).all() for k, v in losses.items()
            if 'loss' in k), losses
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads)
    assert len(preds) == 2
    for pred, ds in zip(preds, data['data_samples']):
        mask = pred.pred_sem_seg.data
        assert mask.shape == (1, 32, 32)
        values = set(np.unique(mask.numpy()).tolist())
        assert values <= set(range(6)) | {255}, values
