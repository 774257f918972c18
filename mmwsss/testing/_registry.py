# Copyright (c) OpenMMLab. All rights reserved.
"""Find, build and run every module that mmwsss registers.

The registry-wide test (``tests/test_registry.py``), in the spirit of
timm's ``tests/test_models.py``: every registered module is built from its
minimal config (:data:`~mmwsss.testing.REGISTRY_CONFIGS`), and every
segmentor runs ``loss`` and ``predict`` on a tiny batch.
"""
import functools
import importlib
import os
import os.path as osp
import pkgutil
import sys
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope, Registry
from mmengine.structures import PixelData

from ._registry_configs import fill_placeholders
from ._utils import demo_wsss_inputs

__all__ = [
    'import_submodules', 'all_registries', 'registered_modules',
    'registry_key',
    'is_segmentor', 'build_registered', 'segmentor_demo_batch',
    'run_segmentor'
]


def import_submodules(package: str = 'mmwsss') -> List[str]:
    """Import ``package`` and every module under it.

    A module that registers something is found even when the package's
    ``__init__`` does not import it.

    Returns:
        list[str]: The names of the imported modules.
    """
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, package + '.'):
        importlib.import_module(info.name)
        names.append(info.name)
    return names


def registry_key(registry: Registry) -> str:
    """The name of a registry in :data:`REGISTRY_CONFIGS`: its ``name`` for
    mmseg's registries, ``'<scope>:<name>'`` for others."""
    if registry.scope == 'mmseg':
        return registry.name
    return f'{registry.scope}:{registry.name}'


def all_registries() -> List[Registry]:
    """Every registry of the process.

    The registries held by a module (OpenMMLab's are module globals:
    ``mmseg.registry.MODELS``, ``mmwsss.apis.pipeline.STAGE_KINDS``...)
    and, recursively, their children (a child registry of another scope
    is found from mmengine's roots).
    """
    found: Dict[int, Registry] = {}
    for module in list(sys.modules.values()):
        for value in list(getattr(module, '__dict__', {}).values()):
            # type(), not isinstance(): that would read value.__class__,
            # which warns on some deprecated objects of torch
            if issubclass(type(value), Registry):
                found.setdefault(id(value), value)
    todo = list(found.values())
    while todo:
        for child in todo.pop()._children.values():
            if id(child) not in found:
                found[id(child)] = child
                todo.append(child)
    return list(found.values())


def registered_modules(
        prefix: str = 'mmwsss') -> Dict[str, Dict[str, Tuple[Registry, type]]]:
    """Every module registered by code of ``prefix``, in every registry.

    All registries are walked (:func:`all_registries`: those of mmengine,
    mmseg, mmpretrain... and mmwsss's own), so a module registered into an
    unexpected registry is found too.

    Args:
        prefix (str): The package whose modules count. Defaults to
            'mmwsss'.

    Returns:
        dict: ``{registry key: {name: (registry, class)}}`` (see
        :func:`registry_key`).
    """
    found: Dict[str, Dict[str, Tuple[Registry, type]]] = {}
    for registry in all_registries():
        for name, module in registry.module_dict.items():
            where = getattr(module, '__module__', '') or ''
            if where == prefix or where.startswith(prefix + '.'):
                key = registry_key(registry)
                if name in found.setdefault(key, {}):
                    raise RuntimeError(
                        f'{name} is registered in two registries named '
                        f'{key!r}')
                found[key][name] = (registry, module)
    return found


def is_segmentor(cls: type) -> bool:
    """An mmseg segmentor or an mmengine test-time wrapper of one."""
    from mmengine.model import BaseTTAModel
    from mmseg.models.segmentors import BaseSegmentor
    return isinstance(cls, type) and issubclass(cls,
                                                (BaseSegmentor, BaseTTAModel))


def _tiny_runner(work_dir: str, data_root: str, test_cfg: dict):
    """A real mmengine Runner that tests a tiny CAM model on the synthetic
    train split (it builds the test loop ``test_cfg``)."""
    from mmengine.runner import Runner

    from ._registry_configs import REGISTRY_CONFIGS
    dataset = fill_placeholders(
        REGISTRY_CONFIGS['dataset']['SyntheticWSSSDataset'], data_root,
        work_dir)
    dataset['pipeline'] = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadWSSSAnnotations'),
        dict(type='PackWSSSInputs')
    ]
    return Runner(
        model=fill_placeholders(REGISTRY_CONFIGS['model']['CAMSegmentor'],
                                data_root, work_dir),
        work_dir=work_dir,
        test_dataloader=dict(
            batch_size=1,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dataset),
        test_cfg=test_cfg,
        test_evaluator=dict(type='PseudoMaskMetric'),
        default_scope='mmseg',
        default_hooks=dict(logger=None),
        log_level='WARNING')


def build_registered(key: str, name: str, registry: Registry, cfg: dict,
                     data_root: str, work_dir: str):
    """Build module ``name`` of registry ``key`` from its minimal config.

    Placeholders are filled (:func:`~mmwsss.testing.fill_placeholders`).
    Most modules are ``registry.build(cfg)`` in mmseg's scope; a loop is
    built by a tiny real Runner (it needs a runner, a dataloader and an
    evaluator); a pipeline stage kind is looked up and checks the stage
    keys ``cfg``; a function (mmengine's ``FUNCTIONS``) is looked up and
    bound to its other keys, as a runner does with ``collate_fn``.

    Returns:
        The built object (for a stage kind: its class; for a function: a
        ``functools.partial`` of it).
    """
    from mmwsss.apis.in_process import isolated_globals
    cfg = fill_placeholders(cfg, data_root, work_dir)
    if key == 'mmwsss:pipeline stage kind':
        kind = registry.get(name)
        kind.check(dict(name='stage', kind=name, **cfg), f'stage `{name}`')
        return kind
    if key == 'mmengine:function':
        # looked up and bound to its other keys, as Runner.build_dataloader
        # does with a collate_fn (building a function would call it)
        args = dict(cfg)
        with DefaultScope.overwrite_default_scope('mmseg'):
            func = registry.get(args.pop('type'))
        return functools.partial(func, **args)
    if key == 'loop':
        with isolated_globals(cwd=None):
            runner = _tiny_runner(
                osp.join(work_dir, f'runner_{name}'), data_root, cfg)
            return runner.test_loop  # built from test_cfg on first access
    with DefaultScope.overwrite_default_scope('mmseg'):
        # a ConfigDict, as from a config file (attribute access)
        return registry.build(ConfigDict(cfg))


def segmentor_demo_batch(folder: str,
                         batch_size: int = 2,
                         size: int = 32,
                         num_classes: int = 6) -> Dict:
    """:func:`demo_wsss_inputs` with what every segmentor may read.

    Each sample also has its image as a file (``img_path``; a dense CRF
    reads it), ``cams`` and ``cam_labels`` (AffinityNet refines them),
    ``gt_saliency`` (EPS), ``prev_mask`` (RelabelSegmentor; rows 8-15
    uncertain), ``gt_weak_seg`` (SPML: the mask with rows 8-15 unlabelled,
    254) and ``gt_region_map`` (SPML: 4 x 4 grid regions, int32).

    Args:
        folder (str): Where the images are written.
        batch_size (int): Defaults to 2.
        size (int): Image side. Defaults to 32.
        num_classes (int): With background. Defaults to 6.

    Returns:
        dict: ``inputs`` and ``data_samples``, as a dataloader yields.
    """
    from PIL import Image
    data = demo_wsss_inputs(batch_size, (3, size, size), num_classes, seed=0)
    gen = torch.Generator().manual_seed(0)
    os.makedirs(folder, exist_ok=True)
    for i, (img, ds) in enumerate(zip(data['inputs'], data['data_samples'])):
        path = osp.join(folder, f'demo_{i}.png')
        # the tensors are BGR, as LoadImageFromFile gives them
        Image.fromarray(img.permute(1, 2, 0).numpy()[..., ::-1]).save(path)
        labels = torch.as_tensor(ds.metainfo['img_labels'], dtype=torch.int64)
        prev = ds.gt_sem_seg.data.clone()
        prev[:, 8:16] = 255
        # SPML's partial label: the mask, rows 8-15 unlabelled (254); and a
        # 4 x 4 grid of over-segmentation regions
        weak = ds.gt_sem_seg.data.clone().to(torch.uint8)
        weak[:, 8:16] = 254
        grid = torch.arange(size) * 4 // size
        regions = (grid[:, None] * 4 + grid[None, :])[None].to(torch.int32)
        ds.set_metainfo(dict(img_path=path))
        ds.set_data(
            dict(
                cams=torch.rand(len(labels), size, size, generator=gen),
                cam_labels=labels,
                gt_saliency=PixelData(
                    data=torch.rand(1, size, size, generator=gen)),
                prev_mask=PixelData(data=prev),
                gt_weak_seg=PixelData(data=weak),
                gt_region_map=PixelData(data=regions)))
    return data


def run_segmentor(model, data: Dict,
                  num_views: int = 2) -> Tuple[Optional[dict], list]:
    """``loss`` then ``predict`` of a segmentor, as a runner calls them.

    ``loss``: ``model(**data_preprocessor(data, True), mode='loss')`` and a
    backward pass (not for a test-time wrapper, ``BaseTTAModel``, which has
    no loss). ``predict``: ``model.test_step(data)``, i.e. the data
    preprocessor and ``mode='predict'``; a test-time wrapper with
    ``BaseTTAModel``'s ``test_step`` gets ``num_views`` identical views of
    the batch.

    Returns:
        tuple: The losses (None for a wrapper without ``loss``) and the
        predicted samples.
    """
    from mmengine.model import BaseTTAModel
    tta = isinstance(model, BaseTTAModel)
    losses = None
    # in mmseg's scope, as in a runner (a model may build a dataloader)
    with DefaultScope.overwrite_default_scope('mmseg'):
        if not tta:
            model.train()
            batch = model.data_preprocessor(data, True)
            losses = model(**batch, mode='loss')
            total = sum(v for k, v in losses.items() if 'loss' in k)
            model.zero_grad()
            total.backward()
        model.eval()
        if tta and type(model).test_step is BaseTTAModel.test_step:
            data = dict(
                inputs=[list(data['inputs']) for _ in range(num_views)],
                data_samples=[[ds.clone() for ds in data['data_samples']]
                              for _ in range(num_views)])
        else:
            data = dict(
                inputs=list(data['inputs']),
                data_samples=[ds.clone() for ds in data['data_samples']])
        with torch.no_grad():
            preds = model.test_step(data)
    return losses, preds
