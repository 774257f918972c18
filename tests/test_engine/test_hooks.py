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


def test_prediction_writer_names_files_by_image_id(tmp_path):
    """Images with one file name in two folders get two files (issue 13);
    ids that would leave the output folder are refused."""
    import os.path as osp

    import numpy as np
    from PIL import Image

    from mmwsss.engine import PredictionWriterHook, image_id
    out = str(tmp_path / 'masks')
    hook = PredictionWriterHook(out_dir=out, save_maps=True)
    runner = _writer_runner(tmp_path)
    hook.before_test(runner)
    samples = []
    for k, sub in enumerate(('a', 'b')):
        sample = _prediction(f'/data/JPEGImages/{sub}/x.jpg')
        sample.set_metainfo(dict(img_id=f'{sub}/x'))
        sample.pred_sem_seg.data[:] = k
        samples.append(sample)
    assert not hook.is_done(samples[0].metainfo)
    hook.after_test_iter(runner, 0, outputs=samples[:1])
    assert hook.is_done(samples[0].metainfo)
    assert not hook.is_done(samples[1].metainfo)
    hook.after_test_iter(runner, 1, outputs=samples[1:])
    for k, sub in enumerate(('a', 'b')):
        png = np.asarray(Image.open(osp.join(out, sub, 'x.png')))
        assert png.tolist() == [[k] * 4]
        assert osp.isfile(osp.join(out, 'cams', sub, 'x.npz'))
    assert not osp.exists(osp.join(out, 'x.png'))
    # flat ids and samples of other datasets: the file name, as always
    assert image_id(dict(img_path='/d/2007_000032.jpg',
                         img_id='2007_000032')) == '2007_000032'
    assert image_id(dict(img_path='/d/sub/2007_000032.jpg')) == \
        '2007_000032'
    for bad in ('../x', 'a/../../x', '/abs/x', '', 'a//x', './x'):
        with pytest.raises(ValueError) as e:
            image_id(dict(img_path='/d/x.jpg', img_id=bad))
        assert str(e.value) == (
            f'image id {bad!r} of /d/x.jpg is not a relative path inside '
            'its folder (empty, absolute, or with an empty, "." or ".." '
            'component); the files named by it would leave the output '
            'folder')


# ---------------------------------------------------------------------------
# StrictLoadHook: a checkpoint that does not fit the model is an error
def _strict_runner(model, path='a.pth'):
    from mmengine.config import Config
    return SimpleNamespace(model=model, _load_from=path,
                           cfg=Config(dict(load_from=path)))


def test_strict_load_hook_passes_a_checkpoint_of_the_model():
    import torch
    from mmengine.registry import init_default_scope

    from mmwsss.engine import StrictLoadHook
    from mmwsss.models import (ClassPatternSegmentor, CRFSegTTAModel,
                               RelabelSegmentor)
    init_default_scope('mmseg')
    hook = StrictLoadHook()
    cam = MODELS.build(tiny_cam_model_cfg(2))
    ckpt = dict(meta={}, state_dict=cam.state_dict())
    hook.after_load_checkpoint(_strict_runner(cam), ckpt)
    # a 'module.' prefix is stripped, as mmengine does
    prefixed = {'module.' + k: v for k, v in cam.state_dict().items()}
    hook.after_load_checkpoint(_strict_runner(cam), dict(state_dict=prefixed))
    # a model whose fitted state is non-persistent: the classifier's
    # checkpoint fits
    cfg = tiny_cam_model_cfg(2)
    cfg.pop('type')
    patterns = ClassPatternSegmentor(feature_layer='backbone.layer3', **cfg)
    hook.after_load_checkpoint(_strict_runner(patterns), ckpt)
    # a TTA model is unwrapped to its module, as mmengine's loader does
    tta = CRFSegTTAModel(module=tiny_cam_model_cfg(2), crf=None)
    hook.after_load_checkpoint(_strict_runner(tta), ckpt)
    assert torch.equal(tta.module.cam_head.classifier.weight,
                       cam.cam_head.classifier.weight)
    relabel = RelabelSegmentor(module=tiny_cam_model_cfg(2))
    hook.after_load_checkpoint(_strict_runner(relabel), ckpt)


def test_strict_load_hook_names_missing_unexpected_and_shapes():
    from mmengine.registry import init_default_scope

    from mmwsss.engine import StrictLoadHook
    init_default_scope('mmseg')
    hook = StrictLoadHook(max_keys=2)
    cam = MODELS.build(tiny_cam_model_cfg(2))
    state = cam.state_dict()
    # another model's checkpoint: its head is not the model's
    other = {k: v for k, v in state.items() if not k.startswith('cam_head')}
    other['decode_head.conv_seg.weight'] = state['cam_head.classifier.weight']
    other['decode_head.conv_seg.bias'] = state['cam_head.classifier.weight']
    with pytest.raises(RuntimeError) as e:
        hook.after_load_checkpoint(_strict_runner(cam, '/w/other.pth'),
                                   dict(state_dict=other))
    assert str(e.value) == (
        'the checkpoint /w/other.pth does not fit the model CAMSegmentor: '
        '1 key(s) of the model are not in it (cam_head.classifier.weight); '
        '2 key(s) in it are not in the model (decode_head.conv_seg.weight, '
        'decode_head.conv_seg.bias). Is it the checkpoint of another model '
        'or config? To load it anyway (what does not match keeps its '
        'initialisation, with a warning), run tools/test.py with '
        '--non-strict-load.')
    # the same model with other classes: a shape mismatch
    five = MODELS.build(tiny_cam_model_cfg(5)).state_dict()
    with pytest.raises(RuntimeError, match=r'CAMSegmentor: 1 other '
                       r'mismatch\(es\) \(size mismatch for '
                       r'cam_head.classifier.weight'):
        hook.after_load_checkpoint(_strict_runner(cam),
                                   dict(state_dict=five))
    # many keys: some are named
    with pytest.raises(RuntimeError, match=r'key\(s\) of the model are not '
                       r'in it \(backbone.conv1.weight, backbone.bn1.weight '
                       r'and \d+ more\)'):
        hook.after_load_checkpoint(_strict_runner(cam),
                                   dict(state_dict={}))


def test_mask_grid_hook_palette_fallback_for_a_dataset_without_one():
    """A dataset whose metainfo has no palette gets seeded colours: one per
    class, background black, the same in every run."""
    from mmengine.dataset import BaseDataset
    from mmengine.logging import MessageHub

    from mmwsss.engine import MaskGridHook

    class NoPalette(BaseDataset):
        METAINFO = dict(classes=('background', 'a', 'b', 'c'))

        def load_data_list(self):
            return [dict(img_path=f'img_{i}.jpg') for i in range(5)]

    def palette_of():
        hook = MaskGridHook(num_images=2)
        runner = SimpleNamespace(
            test_dataloader=SimpleNamespace(dataset=NoPalette()),
            message_hub=MessageHub.get_current_instance())
        hook.before_test(runner)
        assert len(hook._infos) == 2
        return hook.palette

    palette = palette_of()
    assert len(palette) == 4 and palette[0] == [0, 0, 0]
    assert all(0 <= c < 256 for colour in palette for c in colour)
    assert len({tuple(c) for c in palette}) == 4  # distinct colours
    assert palette_of() == palette
