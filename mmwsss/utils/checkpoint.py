# Copyright (c) OpenMMLab. All rights reserved.
"""Loading mmengine checkpoints under ``torch.load(weights_only=True)``.

Since torch 2.6, :func:`torch.load` defaults to ``weights_only=True`` and
refuses any pickled global that is not on an allow-list. Checkpoints that
mmengine's ``Runner`` writes hold, besides tensors, a ``message_hub`` state
with :class:`~mmengine.logging.HistoryBuffer` objects and numpy arrays and
scalars in their meta, so mmengine 0.10.7's ``load_from`` and ``--resume``
fail with ``UnpicklingError: Weights only load failed``.

mmwsss's answer is deliberate and narrow:

1. :data:`SAFE_GLOBALS` lists exactly what such checkpoints need:
   mmengine's ``HistoryBuffer``, the numpy array/scalar/dtype
   reconstruction helpers, and ``builtins.getattr`` (``HistoryBuffer``
   pickles references to its own statistics methods with it; the
   weights-only unpickler still only *calls* allow-listed functions, so
   ``getattr`` can fetch attributes but not run them).
2. :func:`load_from_local` replaces mmengine's loader for local paths
   (``CheckpointLoader`` scheme ``''``). It loads with
   ``weights_only=True`` inside ``torch.serialization.safe_globals(
   SAFE_GLOBALS)``, so the allow-list applies to checkpoint loading only
   and a checkpoint that pickles anything else (arbitrary code) is still
   refused; a missing, truncated or corrupt file fails with an error
   naming the file and the cause.

The loader is installed when ``mmwsss`` is imported (which configs do
through ``custom_imports``). :func:`register_safe_globals` adds the list
to torch's global allow-list for code that calls :func:`torch.load`
itself.
"""
import os
import os.path as osp
import pickle
import re
import zipfile
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.runner import CheckpointLoader

__all__ = [
    'SAFE_GLOBALS', 'register_safe_globals', 'load_from_local',
    'state_dict_mismatch'
]


def _numpy_globals() -> List:
    items = [np.ndarray, np.dtype]
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    items += [_reconstruct, scalar]
    # Concrete dtype classes (np.dtypes.Float64DType ...) and scalar types.
    items += [
        getattr(np.dtypes, name) for name in dir(np.dtypes)
        if name.endswith('DType')
    ]
    items += [
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
        np.uint32, np.uint64, np.float16, np.float32, np.float64, np.str_
    ]
    return items


def _mmengine_globals() -> List:
    from mmengine.logging import HistoryBuffer
    return [HistoryBuffer, getattr]


SAFE_GLOBALS: List = _numpy_globals() + _mmengine_globals()


def register_safe_globals() -> List:
    """Add :data:`SAFE_GLOBALS` to torch's process-wide allow-list.

    Returns:
        list: The globals added.
    """
    torch.serialization.add_safe_globals(SAFE_GLOBALS)
    return SAFE_GLOBALS


def load_from_local(filename: str, map_location: Optional[str] = None):
    """Load a local checkpoint with clear errors.

    Args:
        filename (str): Path of the checkpoint (``~`` is expanded).
        map_location (str, optional): As in :func:`torch.load`.

    Returns:
        The loaded object.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    if os.path.getsize(filename) == 0:
        raise RuntimeError(f'checkpoint {filename} is empty (0 bytes)')
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(
                filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if 'Unsupported global' in str(e):
            raise pickle.UnpicklingError(
                f'checkpoint {filename} contains objects outside the '
                "allow-list of mmwsss.utils.checkpoint.SAFE_GLOBALS, so "
                'torch.load(weights_only=True) refused it. If you trust the '
                'file, add the named global with '
                'torch.serialization.add_safe_globals([...]) before '
                f'loading. Original error: {e}') from e
        raise RuntimeError(
            f'checkpoint {filename} is corrupt (unpickling failed: {e})') \
            from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise RuntimeError(
            f'checkpoint {filename} is corrupt or truncated and cannot be '
            f'loaded: {type(e).__name__}: {e}') from e


def state_dict_mismatch(
        model: torch.nn.Module,
        state_dict: Dict,
        revise_keys: Tuple[Tuple[str, str], ...] = ((r'^module\.', ''), )
) -> Tuple[List[str], List[str], List[str]]:
    """What :meth:`mmengine.runner.Runner.load_checkpoint` would not load.

    Loads ``state_dict`` into ``model`` exactly as mmengine's loader does
    (the ``revise_keys`` of ``Runner.load_checkpoint``, then every module's
    ``_load_from_state_dict``, model wrappers and TTA models such as
    ``SegTTAModel`` unwrapped to their ``module`` at any depth, load
    post-hooks applied, ``num_batches_tracked`` ignored) and returns what
    mmengine would only warn about. Non-persistent buffers (e.g. a fitted
    state) are not expected in a checkpoint. The model ends up holding the
    weights that match, as after a non-strict load.

    Args:
        model (nn.Module): The model (a wrapper is unwrapped).
        state_dict (dict): The checkpoint's ``state_dict`` (or a
            checkpoint dict that has one).
        revise_keys (tuple): ``(pattern, replacement)`` applied to the
            checkpoint's keys. Defaults to stripping a ``module.`` prefix,
            as mmengine does.

    Returns:
        tuple[list[str], list[str], list[str]]: The model keys missing from
        the checkpoint, the checkpoint keys the model does not have, and
        the other errors (e.g. shape mismatches).
    """
    from mmengine.model import BaseTTAModel, is_model_wrapper
    from torch.nn.modules.module import _IncompatibleKeys
    if 'state_dict' in state_dict and isinstance(state_dict['state_dict'],
                                                 dict):
        state_dict = state_dict['state_dict']
    metadata = getattr(state_dict, '_metadata', None)
    for pattern, repl in revise_keys:
        state_dict = OrderedDict(
            (re.sub(pattern, repl, k), v) for k, v in state_dict.items())
    missing: List[str] = []
    unexpected: List[str] = []
    errors: List[str] = []

    def load(module, local, prefix=''):
        while is_model_wrapper(module) or isinstance(module, BaseTTAModel):
            module = module.module
        meta = {} if metadata is None else metadata.get(prefix[:-1], {})
        module._load_from_state_dict(local, prefix, meta, True, missing,
                                     unexpected, errors)
        for name, child in module._modules.items():
            if child is not None:
                child_prefix = prefix + name + '.'
                load(child, {
                    k: v
                    for k, v in local.items() if k.startswith(child_prefix)
                }, child_prefix)
        incompatible = _IncompatibleKeys(missing, unexpected)
        for hook in getattr(module, '_load_state_dict_post_hooks',
                            {}).values():
            hook(module, incompatible)

    with torch.no_grad():
        load(model, dict(state_dict))
    missing = [k for k in missing if 'num_batches_tracked' not in k]
    return missing, unexpected, errors


def _install_loader() -> None:
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)
