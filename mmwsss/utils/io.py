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
import os
import os.path as osp
import tempfile
from typing import Optional, Sequence

import numpy as np
from PIL import Image

__all__ = ['atomic_write_bytes', 'save_palette_png', 'save_npz_atomic']


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically.

    Args:
        path (str): Destination file. Its directory is created if needed.
        data (bytes): The content.
    """
    dirname = osp.dirname(osp.abspath(path))
    os.makedirs(dirname, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=dirname, prefix='.' + osp.basename(path) + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
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
