# Copyright (c) OpenMMLab. All rights reserved.
"""Atomic writes: permissions of a plain write, errors that name the file."""
import errno
import os
import stat

import numpy as np
import pytest

from mmwsss.utils import io as mmwsss_io
from mmwsss.utils.io import (atomic_write_bytes, save_npz_atomic,
                             save_palette_png)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize('umask', [0o022, 0o027, 0o002, 0o077], ids=oct)
def test_new_files_get_the_umask_permissions(tmp_path, umask):
    """Not 0o600 whatever the umask (the temporary file's mode)."""
    old = os.umask(umask)
    try:
        atomic_write_bytes(str(tmp_path / 'a.json'), b'{}')
        save_palette_png(str(tmp_path / 'm.png'), np.zeros((2, 3), np.uint8))
        save_npz_atomic(str(tmp_path / 'c.npz'), x=np.zeros(2))
        with open(tmp_path / 'plain.bin', 'wb') as f:
            f.write(b'x')
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    assert _mode(tmp_path / 'plain.bin') == want
    for name in ('a.json', 'm.png', 'c.npz'):
        assert _mode(tmp_path / name) == want, name


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    """As ``open(path, 'wb')`` on an existing file."""
    path = tmp_path / 'a.txt'
    path.write_bytes(b'old')
    os.chmod(path, 0o640)
    old = os.umask(0o022)
    try:
        atomic_write_bytes(str(path), b'new')
    finally:
        os.umask(old)
    assert path.read_bytes() == b'new'
    assert _mode(path) == 0o640


class _FullDisk:
    """A file object whose writes fail as on a full file system."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_no_space_left_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / 'masks' / '2007_000032.png'
    path.parent.mkdir()
    path.write_bytes(b'previous')
    real_fdopen = os.fdopen
    monkeypatch.setattr(
        mmwsss_io.os, 'fdopen',
        lambda fd, *a, **k: _FullDisk(real_fdopen(fd, *a, **k)))
    with pytest.raises(OSError) as e:
        atomic_write_bytes(str(path), b'new content')
    monkeypatch.undo()
    assert e.value.errno == errno.ENOSPC
    assert e.value.filename == str(path)
    assert str(e.value) == (
        f"[Errno {errno.ENOSPC}] No space left on device while writing: "
        f"'{path}'")
    # nothing half-written: the old file is intact, no temporary file left
    assert path.read_bytes() == b'previous'
    assert os.listdir(path.parent) == [path.name]


def test_settings_json_round_trip_and_errors(tmp_path):
    from mmwsss.utils.io import read_json_if_exists, write_json_atomic
    path = str(tmp_path / 'meta.json')
    assert read_json_if_exists(path) is None  # no file yet
    write_json_atomic(path, dict(algorithm='felzenszwalb', scale=300))
    assert open(path).read() == (
        '{\n  "algorithm": "felzenszwalb",\n  "scale": 300\n}\n')
    assert read_json_if_exists(path) == dict(algorithm='felzenszwalb',
                                             scale=300)
    open(path, 'w').write('{not json')
    with pytest.raises(ValueError, match='cannot read .*meta.json'):
        read_json_if_exists(path)
