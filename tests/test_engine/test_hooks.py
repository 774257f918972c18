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


def _writer_runner(tmp_path):
    loader = SimpleNamespace(
        dataset=SimpleNamespace(
            metainfo=dict(
                classes=('background', 'a', 'b'),
                palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0]])))
    return SimpleNamespace(
        work_dir=str(tmp_path / 'work'), test_dataloader=loader)


def _prediction(path='/data/JPEGImages/img_001.jpg'):
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    ds = SegDataSample(metainfo=dict(img_path=path))
    ds.pred_sem_seg = PixelData(data=torch.tensor([[[0, 1, 2, 255]]]))
    ds.cams = torch.tensor([[[0.1, 0.4, 0.6, 0.9]]])
    ds.cam_labels = torch.tensor([2])
    return ds


def test_prediction_writer_writes_palette_png_and_maps(tmp_path):
    import os.path as osp

    import numpy as np
    from PIL import Image

    from mmwsss.engine import PredictionWriterHook
    out = str(tmp_path / 'masks')
    hook = PredictionWriterHook(out_dir=out, save_maps=True)
    runner = _writer_runner(tmp_path)
    hook.before_test(runner)
    meta = dict(img_path='/data/JPEGImages/img_001.jpg')
    assert not hook.is_done(meta)
    hook.after_test_iter(runner, 0, outputs=[_prediction()])
    assert hook.is_done(meta)
    png = Image.open(osp.join(out, 'img_001.png'))
    assert png.mode == 'P'
    assert np.asarray(png).tolist() == [[0, 1, 2, 255]]
    pal = png.getpalette()
    # the dataset's colours; 255 in the VOC boundary colour
    assert pal[3:6] == [128, 0, 0] and pal[6:9] == [0, 128, 0]
    assert pal[3 * 255:3 * 256] == [224, 224, 192]
    assert np.asarray(png.convert('RGB'))[0, 1].tolist() == [128, 0, 0]
    with np.load(osp.join(out, 'cams', 'img_001.npz')) as f:
        assert f['labels'].tolist() == [2]
        assert f['cams'].dtype == np.float16
        assert f['cams'].tolist() == [[[
            np.float16(v) for v in (0.1, 0.4, 0.6, 0.9)]]]
    assert not list(tmp_path.rglob('*.tmp'))
    # the maps are part of "done" when they are saved
    import os
    os.remove(osp.join(out, 'cams', 'img_001.npz'))
    assert not hook.is_done(meta)
    # restored iterations have no outputs: nothing is written
    hook.after_test_iter(runner, 1, outputs=[])


def test_prediction_writer_default_folder_and_errors(tmp_path):
    import os.path as osp

    from mmwsss.engine import PredictionWriterHook
    hook = PredictionWriterHook()
    runner = _writer_runner(tmp_path)
    hook.before_test(runner)
    assert hook.out_dir == osp.join(runner.work_dir, 'predictions')
    hook.after_test_iter(runner, 0, outputs=[_prediction('/x/b.png')])
    assert osp.isfile(osp.join(runner.work_dir, 'predictions', 'b.png'))
    assert not osp.exists(osp.join(runner.work_dir, 'predictions', 'cams'))
    maps = PredictionWriterHook(out_dir=str(tmp_path / 'm'), save_maps=True)
    maps.before_test(runner)
    sample = _prediction()
    del sample.cams
    with pytest.raises(KeyError, match='save_maps=True'):
        maps.after_test_iter(runner, 0, outputs=[sample])


def test_write_metrics_json_merges_extra_metrics(tmp_path):
    import json

    from mmengine.logging import MessageHub

    from mmwsss.apis import write_metrics_json
    hub = MessageHub.get_instance('test_write_metrics_json')
    path = str(tmp_path / 'm.json')
    write_metrics_json(path, {'mIoU': 41.234567}, hub)
    assert json.load(open(path)) == {'mIoU': 41.2346}
    # a hook's metrics (e.g. a fitting pass) are merged into extra_metrics
    hub.update_info('extra_metrics', {'fit/explained': 12.5, 'mIoU': 1.0})
    write_metrics_json(path, {'mIoU': 41.234567}, hub)
    assert json.load(open(path)) == {'fit/explained': 12.5, 'mIoU': 41.2346}
    write_metrics_json(None, {'mIoU': 1.0}, hub)  # no path: nothing
