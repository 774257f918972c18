# Copyright (c) OpenMMLab. All rights reserved.
"""Atomic file writes.

Every file mmwsss writes as an artefact of a stage (pseudo masks, CAMs,
per-image statistics, caches) goes through these helpers: the bytes are
written to a temporary file in the destination directory and then moved in
place with :func:`os.replace`, which is atomic on POSIX file systems. A run
killed half-way therefore never leaves a truncated file that a rerun would
mistake for a finished one.
"""
import io
import json
import os
import os.path as osp
import stat
import tempfile
import threading
from typing import Optional, Sequence

import numpy as np
from PIL import Image

__all__ = [
    'atomic_write_bytes', 'save_palette_png', 'save_npz_atomic',
    'write_json_atomic', 'read_json_if_exists'
]

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process's umask, read without changing it where possible."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore (not thread-safe alone)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _new_file_mode(path: str) -> int:
    """The mode ``open(path, 'wb')`` would leave: an existing file's, else
    ``0o666`` less the umask."""
    try:
        st = os.stat(path)
    except OSError:
        return 0o666 & ~_umask()
    if stat.S_ISREG(st.st_mode):
        return stat.S_IMODE(st.st_mode)
    return 0o666 & ~_umask()


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    The file gets the permissions a plain ``open(path, 'wb')`` gives it:
    those of the file it replaces, or ``0o666`` less the umask for a new
    file (a temporary file alone would be ``0o600`` whatever the umask).
    A failing write (no space left on device, no permission, ...) removes
    the temporary file and raises an ``OSError`` of the same errno that
    names ``path``.

    Args:
        path (str): Destination file. Its directory is created if needed.
        data (bytes): The content.
    """
    dirname = osp.dirname(osp.abspath(path))
    os.makedirs(dirname, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(
            dir=dirname,
            prefix='.' + osp.basename(path) + '.',
            suffix='.tmp')
        try:
            os.fchmod(fd, _new_file_mode(path))
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and osp.lexists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError) and e.errno is not None:
            # the cause named with the file it was for (a failing write of
            # the temporary file names no file at all)
            raise OSError(e.errno, f'{e.strerror} while writing',
                          path) from e
        raise


def save_palette_png(path: str,
                     label: np.ndarray,
                     palette: Optional[Sequence[Sequence[int]]] = None) -> None:
    """Save a label map as a mode-'P' PNG atomically.

    Args:
        path (str): Destination ``.png`` file.
        label (np.ndarray): ``(H, W)`` integer label map with values in
            ``[0, 255]``.
        palette (Sequence[Sequence[int]], optional): RGB colour per label
            index. Indices without a colour (including the ignore index 255)
            get the VOC boundary colour (224, 224, 192) for 255 and black
            otherwise. Defaults to None (a grey-level palette).
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f'label map for {path} must be 2-D, got shape '
                         f'{label.shape}')
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ValueError(f'label values for {path} must lie in [0, 255], got '
                         f'[{label.min()}, {label.max()}]')
    img = Image.fromarray(label.astype(np.uint8), mode='P')
    flat = np.zeros((256, 3), dtype=np.uint8)
    if palette is None:
        flat[:] = np.arange(256)[:, None]
    else:
        pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:255]
        flat[:len(pal)] = pal
        flat[255] = (224, 224, 192)
    img.putpalette(flat.reshape(-1).tolist())
    buf = io.BytesIO()
    img.save(buf, format='PNG')
    atomic_write_bytes(path, buf.getvalue())


def save_npz_atomic(path: str, **arrays: np.ndarray) -> None:
    """Save arrays to an ``.npz`` file atomically (uncompressed).

    Args:
        path (str): Destination file; should end with ``.npz``.
        **arrays: Arrays to store, by name.
    """
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def write_json_atomic(path: str, obj) -> None:
    """Write ``obj`` as indented JSON (UTF-8, trailing newline), atomically
    (:func:`atomic_write_bytes`): e.g. the settings file of a tool's output
    folder, which a rerun checks before it adds to the folder."""
    atomic_write_bytes(path,
                       (json.dumps(obj, indent=2) + '\n').encode('utf-8'))


def read_json_if_exists(path: str):
    """The JSON content of ``path``, or None when there is no such file.

    Raises:
        ValueError: If the file exists but cannot be read or parsed; the
            message names the file.
    """
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f'cannot read {path}: {e}') from e
