# Copyright (c) OpenMMLab. All rights reserved.
"""What ``tools/train.py`` and ``tools/test.py`` add to mmseg's versions."""
import os
from typing import List, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config

__all__ = [
    'apply_common_args', 'configure_seg_crf', 'set_data_root',
    'setup_distributed', 'single_scale_tta_pipeline'
]


def set_data_root(cfg: Config, data_root: str) -> int:
    """Point every dataset of the train/val/test dataloaders at ``data_root``.

    Wrapped datasets (``dataset=...``, ``datasets=[...]``) are followed.

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

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader:
            visit(loader.get('dataset'))
    if count == 0:
        raise ValueError('--data-root: the config has no dataloader dataset '
                         'with a data_root to set')
    return count


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


def single_scale_tta_pipeline(test_pipeline: List[dict]) -> List[dict]:
    """Turn a test pipeline into a one-view ``TestTimeAug`` pipeline.

    ``[Load, step_1, ..., step_n, Pack]`` becomes
    ``[Load, TestTimeAug(transforms=[[step_1], ..., [step_n], [Pack]])]``:
    the same single prediction, in the list-of-views form that a TTA model
    (here: :class:`~mmwsss.models.CRFSegTTAModel`) takes.

    Args:
        test_pipeline (list[dict]): A test pipeline whose first transform
            loads the image.

    Returns:
        list[dict]: The equivalent TTA pipeline.
    """
    steps = [dict(t) for t in test_pipeline]
    if not steps or 'Load' not in str(steps[0].get('type', '')):
        raise ValueError('single_scale_tta_pipeline: the test pipeline must '
                         'start with an image-loading transform, got '
                         f'{steps[:1]}')
    return [
        steps[0],
        dict(type='TestTimeAug', transforms=[[t] for t in steps[1:]])
    ]


def configure_seg_crf(cfg: Config, crf: str, tta: bool) -> bool:
    """Switch the dense CRF on the final predictions of a segmentor.

    Sets ``cfg.tta_model`` to a :class:`~mmwsss.models.CRFSegTTAModel` with
    ``crf`` (``'none'`` switches it off), keeping its other keys. With
    ``tta`` the config's ``tta_pipeline`` (multi-scale + flip) is used;
    without, a single-scale pipeline is derived from the test pipeline, so
    that ``--crf`` works on its own.

    Args:
        cfg (Config): The test config, changed in place.
        crf (str): A :class:`~mmwsss.models.DenseCRF` preset or ``'none'``.
        tta (bool): Whether ``--tta`` was given.

    Returns:
        bool: Whether the test must run through the TTA model.
    """
    off = crf.lower() == 'none'
    if off and not tta:
        return False
    tta_model = dict(cfg.get('tta_model') or {})
    if tta_model.get('type') not in (None, 'SegTTAModel', 'CRFSegTTAModel',
                                     'mmseg.SegTTAModel',
                                     'mmseg.CRFSegTTAModel'):
        raise ValueError(f'--crf: tta_model type {tta_model["type"]!r} '
                         'is not a SegTTAModel')
    tta_model['type'] = 'CRFSegTTAModel'
    tta_model['crf'] = None if off else crf
    cfg.tta_model = tta_model
    if not tta:
        cfg.tta_pipeline = single_scale_tta_pipeline(
            cfg.test_dataloader.dataset.pipeline)
    elif cfg.get('tta_pipeline') is None:
        raise ValueError('--tta: the config has no tta_pipeline')
    return True
