# Copyright (c) OpenMMLab. All rights reserved.
"""Refuse a checkpoint that does not fit the model."""
from typing import List

from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from mmwsss.utils.checkpoint import state_dict_mismatch

__all__ = ['StrictLoadHook']


def _some(keys: List[str], limit: int) -> str:
    shown = ', '.join(keys[:limit])
    more = len(keys) - limit
    return shown + (f' and {more} more' if more > 0 else '')


@HOOKS.register_module()
class StrictLoadHook(Hook):
    """Make a missing or unexpected model key of a loaded checkpoint an error.

    mmengine's runner loads ``load_from`` non-strictly: a checkpoint of
    another model (or of the same model with other heads) only logs a
    warning about its missing keys, and the run goes on with weights left
    at their initialisation, e.g. masks written from an untrained head.
    This hook checks the checkpoint as it is loaded
    (``after_load_checkpoint``, after every other hook that may adapt it)
    and raises, on every process, when the model has keys the checkpoint
    lacks, the checkpoint has keys the model lacks, or shapes differ
    (:func:`~mmwsss.utils.checkpoint.state_dict_mismatch`, which loads as
    mmengine does: wrappers and TTA models such as ``SegTTAModel`` or
    ``RelabelSegmentor`` are unwrapped to their ``module``, and
    non-persistent buffers, e.g. a fitted state, are not expected).

    ``tools/test.py`` adds it unless ``--non-strict-load`` is given.

    Args:
        max_keys (int): How many keys of each kind the message names.
            Defaults to 5.
        hint (str): The last sentence of the message (how to load anyway).
    """

    priority = 'VERY_LOW'

    def __init__(self,
                 max_keys: int = 5,
                 hint: str = 'To load it anyway (what does not match keeps '
                 'its initialisation, with a warning), run tools/test.py '
                 'with --non-strict-load.') -> None:
        self.max_keys = int(max_keys)
        self.hint = hint

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        missing, unexpected, errors = state_dict_mismatch(
            runner.model, checkpoint)
        if not (missing or unexpected or errors):
            return
        source = getattr(runner, '_load_from', None) or \
            runner.cfg.get('load_from')
        model = runner.model
        while hasattr(model, 'module'):
            model = model.module
        parts = []
        if missing:
            parts.append(f'{len(missing)} key(s) of the model are not in '
                         f'it ({_some(missing, self.max_keys)})')
        if unexpected:
            parts.append(f'{len(unexpected)} key(s) in it are not in the '
                         f'model ({_some(unexpected, self.max_keys)})')
        if errors:
            parts.append(f'{len(errors)} other mismatch(es) ('
                         f'{_some([e.strip() for e in errors], 2)})')
        raise RuntimeError(
            f'the checkpoint {source} does not fit the model '
            f'{type(model).__name__}: ' + '; '.join(parts) +
            '. Is it the checkpoint of another model or config? ' + self.hint)
