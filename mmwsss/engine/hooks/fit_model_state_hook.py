# Copyright (c) OpenMMLab. All rights reserved.
"""Fit a model's data-dependent state before testing, save and reuse it."""
import hashlib
import io
import json
import os
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import BaseTTAModel, is_model_wrapper
from mmseg.registry import HOOKS

from mmwsss.utils.io import atomic_write_bytes

__all__ = ['FitModelStateHook', 'file_sha256']


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def _jsonable(obj):
    """Config values as JSON (tuples become lists, the rest ``str``)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


@HOOKS.register_module()
class FitModelStateHook(Hook):
    """Fit the state of a model that has one before the test loop.

    Some models predict with state that is computed from data rather than
    trained, e.g. the prototypes of mmpretrain's retrievers (filled by its
    ``PrepareProtoBeforeValLoopHook``) or the class patterns of Luo & Yang
    (AAAI 2020) in :class:`~mmwsss.models.ClassPatternSegmentor`. This
    hook names no model: before testing it looks for the protocol

    - ``is_fitted`` (bool): the state is present (nothing to do);
    - ``fit_state() -> dict``: run the fitting pass on every process
      (collective operations allowed), set the state, return metrics;
    - ``fitted_state() -> dict`` and ``load_fitted_state(state, source)``:
      the state to save, and the reverse;
    - ``fitted_state_name`` (str): the file stem, e.g. ``'class_patterns'``,

    and, on a model that has ``fit_state`` and is not fitted:

    1. reuses ``<work_dir>/<name>.pth`` when ``<work_dir>/<name>.json``
       records the same signature (the model config and the SHA-256 of the
       loaded checkpoint, ``load_from``): a rerun in the same work_dir, e.g.
       a resumed pseudo-mask pass, does not fit again;
    2. otherwise calls ``fit_state()`` and (main process) writes the state
       atomically to ``<work_dir>/<name>.pth`` and then the signature and
       the metrics to ``<work_dir>/<name>.json``;
    3. merges the metrics into the message hub's info ``extra_metrics``, so
       that ``tools/test.py --metrics-json`` reports them with the test
       metrics.

    Models without ``fit_state`` are left alone, so the hook may sit in a
    base config.

    Args:
        out_dir (str, optional): Where the files go. Defaults to None
            (``runner.work_dir``).
        reuse (bool): Reuse a saved state of the same signature. Defaults
            to True.
        save (bool): Write the files. Defaults to True.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self,
                 out_dir: Optional[str] = None,
                 reuse: bool = True,
                 save: bool = True) -> None:
        self.out_dir = out_dir
        self.reuse = bool(reuse)
        self.save = bool(save)

    @staticmethod
    def _model(runner):
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        if isinstance(model, BaseTTAModel):  # e.g. a TTA or relabel wrapper
            model = model.module
        return model

    @staticmethod
    def signature(runner) -> Dict:
        """What the fitted state depends on: the model config and the
        checkpoint's bytes."""
        load_from = runner.cfg.get('load_from')
        checkpoint = None
        if load_from and osp.isfile(load_from):
            checkpoint = file_sha256(load_from)
        elif load_from:
            checkpoint = str(load_from)
        return dict(
            model=_jsonable(runner.cfg.get('model')), checkpoint=checkpoint)

    def _paths(self, runner, name: str):
        folder = self.out_dir or runner.work_dir
        return osp.join(folder, name + '.pth'), osp.join(folder,
                                                         name + '.json')

    def _load_saved(self, model, signature: Dict, state_path: str,
                    info_path: str) -> Optional[Dict]:
        """The saved metrics when the saved state matches (main process
        decides, every process loads)."""
        decision = [None]
        if is_main_process() and osp.isfile(info_path) and \
                osp.isfile(state_path):
            with open(info_path) as f:
                info = json.load(f)
            if info.get('signature') == json.loads(json.dumps(signature)):
                decision[0] = info.get('metrics') or {}
        broadcast_object_list(decision)
        if decision[0] is None:
            return None
        model.load_fitted_state(
            torch.load(state_path, map_location='cpu'), source=state_path)
        return decision[0]

    def _save(self, model, signature: Dict, metrics: Dict, state_path: str,
              info_path: str) -> None:
        if not is_main_process():
            return
        # the signature file goes last: it vouches for a complete state
        if osp.exists(info_path):
            os.remove(info_path)
        buf = io.BytesIO()
        torch.save(model.fitted_state(), buf)
        atomic_write_bytes(state_path, buf.getvalue())
        atomic_write_bytes(
            info_path,
            json.dumps(
                dict(signature=signature, metrics=metrics),
                indent=2,
                sort_keys=True).encode())

    def before_test(self, runner) -> None:
        """Fit (or reuse) the model's state."""
        model = self._model(runner)
        if not hasattr(model, 'fit_state') or getattr(model, 'is_fitted',
                                                      False):
            return
        name = getattr(model, 'fitted_state_name', 'model_state')
        state_path, info_path = self._paths(runner, name)
        # only the main process reads and writes the files
        signature = self.signature(runner) if is_main_process() and (
            self.reuse or self.save) else None
        metrics = None
        if self.reuse:
            metrics = self._load_saved(model, signature, state_path,
                                       info_path)
            if metrics is not None:
                print_log(
                    f'FitModelStateHook: {type(model).__name__} state '
                    f'reused from {state_path} (same model config and '
                    'checkpoint)',
                    logger='current')
        if metrics is None:
            metrics = dict(model.fit_state() or {})
            if self.save:
                self._save(model, signature, metrics, state_path, info_path)
                print_log(
                    f'FitModelStateHook: {type(model).__name__} state '
                    f'written to {state_path}',
                    logger='current')
        if metrics:
            hub = runner.message_hub
            extra = dict(hub.get_info('extra_metrics') or {})
            extra.update(metrics)
            hub.update_info('extra_metrics', extra)
