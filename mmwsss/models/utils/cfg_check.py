# Copyright (c) OpenMMLab. All rights reserved.
"""Checked ``test_cfg``/``train_cfg`` dicts: no unknown keys, typed values.

A model's ``test_cfg`` is merged over its defaults; a key the model does
not read (``scalse=`` for ``scales=``) would otherwise be ignored, and
``--cfg-options model.test_cfg.flip=Flase`` would give the string
``'Flase'``, which is true. :func:`merge_checked_cfg` refuses both, naming
the key, the value and the known keys.
"""
import difflib
import numbers
from typing import Dict, Iterable, Mapping, Optional

import numpy as np

__all__ = ['merge_checked_cfg', 'check_cfg_keys', 'check_cfg_types']

#: The kinds of values :func:`check_cfg_types` checks.
KINDS = ('bool', 'int', 'number', 'numbers', 'str', 'str_or_none')


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not _is_bool(value)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def _describe(value) -> str:
    return f'{value!r} ({type(value).__name__})'


def check_cfg_keys(cfg: Mapping, known: Iterable[str], where: str) -> None:
    """Raise when ``cfg`` has a key outside ``known``.

    Args:
        cfg (Mapping): The given settings.
        known (Iterable[str]): The keys that are read.
        where (str): What ``cfg`` is, for the message (e.g.
            ``'CAMSegmentor test_cfg'``).

    Raises:
        ValueError: Naming the unknown keys (with the closest known key
            when one is close) and the known keys.
    """
    known = sorted(known)
    unknown = sorted(str(k) for k in cfg if k not in known)
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        if close:
            hints.append(repr(close[0]) if len(unknown) == 1 else
                         f'{close[0]!r} for {key!r}')
    hint = f' (did you mean {", ".join(hints)}?)' if hints else ''
    names = ', '.join(repr(k) for k in unknown)
    known_txt = ', '.join(known) if known else 'none (it is unused)'
    raise ValueError(f'{where}: unknown key{"s" if len(unknown) > 1 else ""}'
                     f' {names}{hint}; the known keys are: {known_txt}')


def check_cfg_types(cfg: Mapping, kinds: Mapping[str, str],
                    where: str) -> None:
    """Raise when a value of ``cfg`` is not of its key's kind.

    Kinds: ``'bool'`` (True/False; not 1, not the string ``'False'``),
    ``'int'``, ``'number'`` (int or float, not bool), ``'numbers'`` (a list
    or tuple of numbers), ``'str'``, ``'str_or_none'``.

    Args:
        cfg (Mapping): The merged settings.
        kinds (Mapping[str, str]): Key -> kind; keys absent from ``cfg``
            are skipped.
        where (str): What ``cfg`` is, for the message.

    Raises:
        TypeError: Naming the key, the value and what it must be.
    """
    for key, kind in kinds.items():
        if key not in cfg:
            continue
        value = cfg[key]
        if kind == 'bool':
            ok, want = _is_bool(value), 'True or False'
        elif kind == 'int':
            ok, want = _is_int(value), 'an int'
        elif kind == 'number':
            ok, want = _is_number(value), 'a number'
        elif kind == 'numbers':
            ok = isinstance(value, (list, tuple)) and all(
                _is_number(v) for v in value)
            want = 'a list or tuple of numbers'
        elif kind == 'str':
            ok, want = isinstance(value, str), 'a string'
        elif kind == 'str_or_none':
            ok, want = value is None or isinstance(value, str), \
                'a string or None'
        else:
            raise ValueError(f'unknown kind {kind!r} for {key!r}; one of '
                             f'{KINDS}')
        if not ok:
            hint = ''
            strings = [value] if not isinstance(value, (list, tuple)) \
                else list(value)
            if kind != 'str' and any(isinstance(v, str) for v in strings):
                hint = (' (--cfg-options keeps a value that is not a '
                        'Python literal as a string)')
            raise TypeError(f'{where}.{key} must be {want}, got '
                            f'{_describe(value)}{hint}')


def merge_checked_cfg(defaults: Mapping,
                      cfg: Optional[Mapping],
                      where: str,
                      kinds: Optional[Mapping[str, str]] = None) -> Dict:
    """``defaults`` updated with ``cfg``, after checking ``cfg``'s keys and
    the merged values' kinds.

    Args:
        defaults (Mapping): Every known key with its default.
        cfg (Mapping, optional): The given settings (None: none).
        where (str): What ``cfg`` is, e.g. ``'CAMSegmentor test_cfg'``.
        kinds (Mapping[str, str], optional): See :func:`check_cfg_types`.

    Returns:
        dict: The merged settings (a new dict).
    """
    cfg = dict(cfg or {})
    check_cfg_keys(cfg, defaults, where)
    merged = dict(defaults)
    merged.update(cfg)
    check_cfg_types(merged, kinds or {}, where)
    return merged
