# Copyright (c) OpenMMLab. All rights reserved.
import io
from types import SimpleNamespace

import pytest
from mmseg.registry import MODELS

from mmwsss.engine import ProgressBarHook, WSSSNumClassCheckHook
from mmwsss.testing import tiny_cam_model_cfg


def _runner(num_fg, classes):
    loader = SimpleNamespace(
        dataset=SimpleNamespace(metainfo=dict(classes=classes)))
    return SimpleNamespace(
        model=MODELS.build(tiny_cam_model_cfg(num_fg)),
        train_dataloader=loader,
        val_dataloader=loader,
        test_dataloader=loader)


def test_num_class_check_passes_when_consistent():
    hook = WSSSNumClassCheckHook()
    runner = _runner(2, ('background', 'a', 'b'))
    hook.before_train(runner)
    hook.before_val(runner)
    hook.before_test(runner)


def test_num_class_check_names_the_key():
    hook = WSSSNumClassCheckHook()
    runner = _runner(20, ('background', 'a', 'b'))
    with pytest.raises(ValueError,
                       match=r'model.cam_head.num_classes = 20.*3 classes'):
        hook.before_train(runner)


def test_progress_bar_counts_iterations():
    hook = ProgressBarHook()
    runner = SimpleNamespace(test_dataloader=[0] * 5)
    hook.before_test_epoch(runner)
    buf = io.StringIO()
    hook._bar.file = buf
    for i in range(5):
        hook.after_test_iter(runner, i)
    assert hook._bar.completed == 5
    hook.after_test_epoch(runner)
    assert hook._bar is None
    assert '5/5' in buf.getvalue()


def test_metrics_json_hook_writes_rounded_metrics(tmp_path):
    import json

    import numpy as np

    from mmwsss.engine import MetricsJsonHook
    path = str(tmp_path / 'sub_missing' / 'm.json')
    hook = MetricsJsonHook(path)
    hook.after_val_epoch(
        SimpleNamespace(iter=5),
        {'mIoU': np.float32(25.89), 'name': [1, 2]})
    assert json.load(open(path)) == dict(
        iter=5, metrics={'mIoU': 25.89, 'name': '[1, 2]'})
    hook.after_val_epoch(SimpleNamespace(iter=9), {'mIoU': 30.0})
    assert json.load(open(path)) == dict(iter=9, metrics={'mIoU': 30.0})
