# Copyright (c) OpenMMLab. All rights reserved.
"""A test loop that skips images a previous run already finished."""
import hashlib
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.runner import TestLoop
from mmseg.registry import LOOPS

from mmwsss.engine.hooks import file_sha256, image_id
from mmwsss.utils.io import save_npz_atomic

__all__ = ['ResumableTestLoop', 'flatten_result', 'unflatten_result']

CACHE_DIR = '.cache'


class _NotCacheable(TypeError):
    """A metric result holds a value the cache cannot store."""


def flatten_result(obj: Any, arrays: List[np.ndarray]) -> Any:
    """A JSON layout of a metric result; its arrays go to ``arrays``.

    Dicts (string keys), lists and tuples are followed; numpy arrays and
    scalars, tensors (moved to the CPU) and strings, numbers, booleans and
    None are stored, so that :func:`unflatten_result` gives back the same
    types and values without pickle.

    Raises:
        TypeError: For any other value.
    """
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise _NotCacheable('dict keys must be str')
        return dict(t='dict', v=[[k, flatten_result(v, arrays)]
                                 for k, v in obj.items()])
    if isinstance(obj, (list, tuple)):
        return dict(
            t=type(obj).__name__, v=[flatten_result(v, arrays) for v in obj])
    if isinstance(obj, torch.Tensor):
        if obj.dtype == torch.bfloat16:
            raise _NotCacheable('bfloat16 tensors have no numpy type')
        arrays.append(obj.detach().cpu().numpy())
        return dict(t='tensor', a=len(arrays) - 1)
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise _NotCacheable('object arrays need pickle')
        arrays.append(obj)
        return dict(t='ndarray', a=len(arrays) - 1)
    if isinstance(obj, np.generic):
        arrays.append(np.asarray(obj))
        return dict(t='npscalar', a=len(arrays) - 1)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return dict(t='value', v=obj)
    raise _NotCacheable(f'cannot cache a {type(obj).__name__}')


def unflatten_result(layout: Any, arrays: Sequence[np.ndarray]) -> Any:
    """The inverse of :func:`flatten_result`."""
    kind = layout['t']
    if kind == 'dict':
        return {k: unflatten_result(v, arrays) for k, v in layout['v']}
    if kind in ('list', 'tuple'):
        items = [unflatten_result(v, arrays) for v in layout['v']]
        return items if kind == 'list' else tuple(items)
    if kind == 'tensor':
        return torch.from_numpy(np.array(arrays[layout['a']]))
    if kind == 'ndarray':
        return np.array(arrays[layout['a']])
    if kind == 'npscalar':
        return np.asarray(arrays[layout['a']])[()]
    return layout['v']


def _jsonable(obj: Any) -> Any:
    """Config values as JSON (``to_dict`` for configs, ``repr`` else)."""
    if hasattr(obj, 'to_dict'):
        obj = obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return repr(obj)


@LOOPS.register_module()
class ResumableTestLoop(TestLoop):
    """:class:`~mmengine.runner.TestLoop` that resumes a killed pass.

    Pseudo-mask generation over VOC ``train_aug`` or COCO takes hours; when
    it is killed, rerunning it should not redo the images it finished.
    mmengine's loop has no notion of that; this one works with any
    *writer*, a hook with ``out_dir`` and ``is_done(metainfo) -> bool``
    (e.g. :class:`~mmwsss.engine.PredictionWriterHook`), and any metric:

    - after each computed batch (its hooks, and so the writers, have run),
      every image's metric results are cached in
      ``<out_dir of the first writer>/.cache/<image id>.npz`` (the id of
      :func:`~mmwsss.engine.image_id`, which the writers name their files
      by: split entries ``a/x`` and ``b/x`` have two entries; atomically;
      arrays, tensors, strings and numbers, no pickle), with the SHA-256 of
      a *signature* of what made them: the model config, the checkpoint's
      bytes (``load_from``), the test dataset config and the evaluator
      config. Only batches in which every metric appended exactly one
      result per image are cached;
    - a batch is restored, without running the model, when every writer
      ``is_done`` for each of its images and each has a cache entry of the
      same signature: the cached results are appended to the metrics, and
      the iteration hooks are called with no outputs (progress bars and
      loggers still count it). A different signature (a changed checkpoint
      or ``model.test_cfg``...) recomputes the image, and the loop says how
      many it recomputed so.

    Without a writer it is mmengine's ``TestLoop``. The final metrics cover
    all images, finished earlier or now. A TTA batch (views x images) is
    named by its first view.

    Args:
        runner: The runner.
        dataloader (dict | DataLoader): The test dataloader.
        evaluator (dict | list | Evaluator): The evaluator.
        fp16 (bool): Whether to use fp16 autocast. Defaults to False.
    """

    def __init__(self, runner, dataloader, evaluator: Union[dict, list],
                 fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        self.num_restored = 0
        self.num_stale = 0
        self._writers: Optional[list] = None
        self._cache_dir: Optional[str] = None
        self._signature: Optional[str] = None

    # ------------------------------------------------------------------
    def signature(self) -> Dict:
        """What the cached results depend on (see the class docstring)."""
        cfg = self.runner.cfg
        load_from = cfg.get('load_from')
        if load_from and osp.isfile(load_from):
            checkpoint = file_sha256(load_from)
        else:
            checkpoint = None if load_from is None else str(load_from)
        loader = cfg.get('test_dataloader') or {}
        return dict(
            model=_jsonable(cfg.get('model')),
            checkpoint=checkpoint,
            test_dataset=_jsonable(loader.get('dataset')),
            test_evaluator=_jsonable(cfg.get('test_evaluator')))

    def _setup(self) -> None:
        """Find the writers (their hooks' ``before_test`` has run)."""
        self._writers = [
            h for h in self.runner.hooks
            if callable(getattr(h, 'is_done', None))
            and getattr(h, 'out_dir', None)
        ]
        self._cache_dir = None
        if self._writers:
            self._cache_dir = osp.join(self._writers[0].out_dir, CACHE_DIR)
            os.makedirs(self._cache_dir, exist_ok=True)
            self._signature = hashlib.sha256(
                json.dumps(self.signature(), sort_keys=True).encode()
            ).hexdigest()

    @staticmethod
    def _metainfos(data_batch: dict) -> List[dict]:
        samples = data_batch['data_samples']
        if samples and isinstance(samples[0], (list, tuple)):
            samples = samples[0]  # TTA: views x images
        return [s.metainfo if hasattr(s, 'metainfo') else s for s in samples]

    def _cache_path(self, meta: dict) -> str:
        return osp.join(self._cache_dir, image_id(meta) + '.npz')

    def _load(self, metas: List[dict]) -> Optional[List[list]]:
        """Every image's cached results, or None when one is missing."""
        n_metrics = len(self.evaluator.metrics)
        loaded = []
        stale = 0
        for meta in metas:
            if not all(w.is_done(meta) for w in self._writers):
                return None
            path = self._cache_path(meta)
            if not osp.isfile(path):
                return None
            with np.load(path, allow_pickle=False) as f:
                if str(f['signature']) != self._signature:
                    stale += 1
                    continue
                layout = json.loads(str(f['layout']))
                if len(layout) != n_metrics:
                    stale += 1
                    continue
                arrays = [f[f'a{i}'] for i in range(int(f['num_arrays']))]
            loaded.append([unflatten_result(m, arrays) for m in layout])
        if stale:
            self.num_stale += stale
            return None
        return loaded

    def _save(self, metas: List[dict], before: List[int]) -> None:
        metrics = self.evaluator.metrics
        n = len(metas)
        if any(len(m.results) - b != n for m, b in zip(metrics, before)):
            return  # not one result per image: never restored
        for j, meta in enumerate(metas):
            arrays: List[np.ndarray] = []
            try:
                layout = [
                    flatten_result(m.results[b + j], arrays)
                    for m, b in zip(metrics, before)
                ]
            except _NotCacheable:
                return
            entries = {f'a{i}': a for i, a in enumerate(arrays)}
            save_npz_atomic(
                self._cache_path(meta),
                signature=np.asarray(self._signature),
                layout=np.asarray(json.dumps(layout)),
                num_arrays=np.asarray(len(arrays)),
                **entries)

    # ------------------------------------------------------------------
    def run_iter(self, idx: int, data_batch: dict) -> None:
        """Restore the batch from the cache, or run it and cache it."""
        if self._writers is None:
            self._setup()
        if not self._cache_dir:
            return super().run_iter(idx, data_batch)
        metas = self._metainfos(data_batch)
        loaded = self._load(metas)
        if loaded is not None:
            for results in loaded:
                for metric, result in zip(self.evaluator.metrics, results):
                    metric.results.append(result)
            self.num_restored += len(metas)
            # hooks still see the iteration, with no outputs
            self.runner.call_hook(
                'before_test_iter', batch_idx=idx, data_batch=data_batch)
            self.runner.call_hook(
                'after_test_iter',
                batch_idx=idx,
                data_batch=data_batch,
                outputs=[])
            return
        before = [len(m.results) for m in self.evaluator.metrics]
        super().run_iter(idx, data_batch)
        self._save(metas, before)

    def run(self) -> dict:
        """Run the loop and report what was restored or recomputed."""
        self.num_restored = 0
        self.num_stale = 0
        self._writers = None
        metrics = super().run()
        if self.num_restored:
            print_log(
                f'ResumableTestLoop: {self.num_restored} image(s) were '
                'finished by an earlier run and restored from the cache',
                logger='current')
        if self.num_stale:
            print_log(
                f'ResumableTestLoop: {self.num_stale} image(s) had results '
                'of other settings (model config, checkpoint, test dataset '
                'or evaluator) and were recomputed',
                logger='current')
        return metrics
