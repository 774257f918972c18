# Copyright (c) OpenMMLab. All rights reserved.
"""What ``tools/train.py`` and ``tools/test.py`` add to mmseg's versions."""
import json
import os
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import find_latest_checkpoint

__all__ = [
    'apply_common_args', 'load_tool_config', 'set_data_root',
    'set_resume', 'setup_distributed', 'write_metrics_json'
]


def set_data_root(cfg: Config, data_root: str) -> int:
    """Point every dataset of the config's dataloaders at ``data_root``.

    The train/val/test dataloaders, and the dataloaders a model config
    holds (e.g. the data a model fits its state on, like mmpretrain's
    ``prototype``: any dict inside ``model`` with a ``dataset`` and a
    ``batch_size`` or ``sampler``). Wrapped datasets (``dataset=...``,
    ``datasets=[...]``) are followed.

    Args:
        cfg (Config): The config, changed in place.
        data_root (str): The new data root.

    Returns:
        int: How many dataset configs were changed.
    """
    count = 0

    def visit(ds) -> None:
        nonlocal count
        if not isinstance(ds, dict):
            return
        if 'data_root' in ds or 'dataset' not in ds and 'datasets' not in ds:
            ds['data_root'] = data_root
            count += 1
        if isinstance(ds.get('dataset'), dict):
            visit(ds['dataset'])
        for sub in ds.get('datasets', []) or []:
            visit(sub)

    def model_loaders(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get('dataset'), dict) and (
                    'batch_size' in node or 'sampler' in node):
                visit(node['dataset'])
                return
            for value in node.values():
                model_loaders(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                model_loaders(value)

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader:
            visit(loader.get('dataset'))
    model_loaders(cfg.get('model'))
    if count == 0:
        raise ValueError('--data-root: the config has no dataloader dataset '
                         'with a data_root to set')
    return count


def load_tool_config(args) -> Config:
    """The config of ``tools/{train,test}.py``.

    Reads ``args.config``, sets ``launcher``, merges ``--cfg-options`` and
    resolves ``work_dir`` (``--work-dir`` > the config's >
    ``./work_dirs/<config name>``), as mmseg's tools do.
    """
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = os.path.join(
            './work_dirs',
            os.path.splitext(os.path.basename(args.config))[0])
    return cfg


def write_metrics_json(path: Optional[str],
                       metrics: Optional[dict],
                       message_hub=None) -> None:
    """``--metrics-json``: the returned metrics, atomically, on rank 0.

    Metrics that hooks computed outside the evaluator (e.g. a fitting pass
    before the test loop) are merged into the message hub's info
    ``extra_metrics``; they are written too (the evaluator's win on a
    clash of names).

    Args:
        path (str, optional): The JSON file; None writes nothing.
        metrics (dict, optional): What ``runner.test()`` (or ``val()``)
            returned.
        message_hub (MessageHub, optional): Where ``extra_metrics`` are
            read. Defaults to None (the current instance, i.e. the last
            runner's).
    """
    if not path:
        return
    from mmengine.dist import is_main_process
    from mmengine.logging import MessageHub

    from mmwsss.engine.hooks import metrics_to_jsonable
    from mmwsss.utils import atomic_write_bytes
    if message_hub is None:
        message_hub = MessageHub.get_current_instance()
    merged = dict(message_hub.get_info('extra_metrics') or {})
    merged.update(metrics or {})
    if is_main_process():
        atomic_write_bytes(
            path,
            json.dumps(metrics_to_jsonable(merged), indent=2).encode())


def apply_common_args(cfg: Config,
                      data_root: Optional[str] = None,
                      seed: Optional[int] = None) -> None:
    """Apply ``--data-root`` and ``--seed`` to a config in place."""
    if data_root is not None:
        if not os.path.isdir(data_root):
            raise FileNotFoundError(f'--data-root {data_root} is not a '
                                    'directory')
        set_data_root(cfg, data_root)
    if seed is not None:
        randomness = dict(cfg.get('randomness') or {})
        randomness['seed'] = seed
        cfg.randomness = randomness


def set_resume(cfg: Config, resume: bool) -> None:
    """Make ``--resume`` continue the run in ``cfg.work_dir``.

    mmengine 0.10.7's ``Runner.load_or_resume`` resumes *from*
    ``load_from`` when a config sets both ``resume`` and ``load_from``. A
    config that initialises from another run's checkpoint (a second-round
    classifier from the embedding it sits on, a segmentor from a
    pretrained one) and is rerun with ``--resume`` would restore that other
    run's iteration, optimizer and scheduler: a 2,200-iteration checkpoint
    ends a 1,100-iteration schedule before it trains a step, silently.
    ``--resume`` here means what the tools' help says: the latest
    checkpoint of the work dir. When the work dir has one, it becomes the
    checkpoint to resume (it already holds the weights ``load_from`` gave
    the run); when it has none, the run starts afresh, from ``load_from``
    if the config names one.

    Args:
        cfg (Config): The config (its ``work_dir`` resolved), changed in
            place: ``resume`` and, when there is a checkpoint to resume,
            ``load_from``.
        resume (bool): Whether ``--resume`` was given.
    """
    latest = find_latest_checkpoint(cfg.work_dir) if resume else None
    cfg.resume = latest is not None
    if cfg.resume:
        cfg.load_from = latest


def setup_distributed(cfg: Config) -> None:
    """Make ``--launcher pytorch`` work on machines without a GPU.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device``
    unconditionally, which fails without an NVIDIA driver, and its default
    DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which is for GPU
    modules. On a CPU-only machine this initialises the gloo process group
    from the ``torchrun`` environment before the Runner is built (the
    Runner then skips its own initialisation) and configures the wrapper
    with ``device_ids=None``. With a GPU nothing changes.

    Args:
        cfg (Config): The config (its ``launcher`` set), changed in place.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise NotImplementedError(
            f'--launcher {launcher} without a GPU is not supported; use '
            '--launcher pytorch (tools/dist_train.sh) on CPU')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
