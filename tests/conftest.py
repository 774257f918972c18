# Copyright (c) OpenMMLab. All rights reserved.
"""Shared fixtures of the test suite."""
import gc
import os
import pathlib
import shutil
import tempfile

import pytest
import torch

from mmwsss.apis import scoped_mmengine_instances


@pytest.fixture
def tmp_path() -> pathlib.Path:
    """A short temporary folder (``/tmp/mmwsss-XXXXXXXX``), removed after
    the test; replaces pytest's ``tmp_path``.

    The configs of the end-to-end tests hold paths under this folder, and
    mmengine formats every config it logs or dumps with yapf
    (``Config.pretty_text``), whose search grows steeply with the length of
    the lines: with pytest's own folders
    (``/tmp/pytest-of-<user>/pytest-<n>/<test name><n>/``) a tiny
    pipeline spent most of its time in yapf (40 s instead of 15 s).
    """
    path = tempfile.mkdtemp(prefix='mmwsss-')
    try:
        yield pathlib.Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _drop_mmengine_instances():
    """The Runners, loggers, message hubs and visualizers a test creates go
    with it (:func:`mmwsss.apis.scoped_mmengine_instances`).

    mmengine keeps them by name, and a Runner names them by config name and
    time stamp: a second test's Runner of a config of the same name, in the
    same second, got the first test's visualizer, logger and message hub,
    and wrote into the first test's (deleted) folder.
    """
    with scoped_mmengine_instances(hide_existing=False):
        yield


def pytest_configure(config) -> None:
    """Share the cores between the test processes of ``pytest -n``.

    Each pytest-xdist worker would otherwise start as many torch threads
    as the machine has cores, and the workers would oversubscribe them.
    """
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


def pytest_collection_finish(session) -> None:
    """Freeze the objects of the imported packages out of the garbage
    collector once the tests are collected.

    mmengine's ``BaseDataset`` calls ``gc.collect()`` for every dataset it
    builds, and a full collection walks every object of torch, mmcv, mmseg
    and mmpretrain (about 0.15 s each time, seconds over the suite).
    ``gc.freeze()`` moves them to a permanent generation that collections
    skip; nothing that a test creates is affected.
    """
    gc.freeze()
