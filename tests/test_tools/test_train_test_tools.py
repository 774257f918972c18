# Copyright (c) OpenMMLab. All rights reserved.
"""End to end: tools/train.py then tools/test.py on a tiny generated set.

Real runs, real files: a classifier is trained for a few iterations on a
synthetic dataset generated into a temporary directory, stage 2 writes
and scores pseudo masks, a rerun resumes from the cache, and ``--resume``
and ``load_from`` load the runner checkpoint under torch's
``weights_only=True`` default.

The tools run in this process (their ``main(argv)``, with the fresh
mmengine state of a new process: :func:`mmwsss.testing.run_tool`); the
tools as scripts are run by ``test_pipeline.py`` (the stages of
``tools/run_pipeline.py``), which checks that both give the same outputs.
"""
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.runner import ValLoop
from PIL import Image

from mmwsss.testing import run_tool, write_tiny_cam_config

pytestmark = pytest.mark.slow


def _write_config(tmp_path, iters):
    """The tiny synthetic CAM config shared with the pipeline tests."""
    return write_tiny_cam_config(
        str(tmp_path / f'cfg_{iters}.py'), str(tmp_path / 'data'),
        iters=iters)


def _run(tool, args):
    """Run a tool; it must succeed. Returns its output."""
    return run_tool(tool, args)[1]


def test_train_then_pseudo_masks_then_resume(tmp_path):
    work = str(tmp_path / 'work')
    cfg4 = _write_config(tmp_path, 4)
    out = _run('train.py', [cfg4, '--work-dir', work])
    assert osp.isfile(osp.join(work, 'iter_4.pth'))
    assert 'loss_cls' in out
    assert 'multi-label/mAP' in out  # val at the end of training

    # stage 2: pseudo masks for the 10 train images, written by the
    # config's PredictionWriterHook (default folder), scored and tabulated
    metrics_json = osp.join(work, 'stage2.json')
    test_args = [cfg4, osp.join(work, 'iter_4.pth'),
                 '--work-dir', work, '--metrics-json', metrics_json]
    out = _run('test.py', test_args)
    pseudo = osp.join(work, 'predictions')
    pngs = sorted(f for f in os.listdir(pseudo) if f.endswith('.png'))
    assert len(pngs) == 10
    mask = np.asarray(Image.open(osp.join(pseudo, pngs[0])))
    assert mask.ndim == 2 and set(np.unique(mask)) <= set(range(6))
    assert 'Pseudo-mask mIoU over the background sweep' in out
    assert 'oracle (GT-tuned' in out and 'GT-free' in out
    for thr in ('0.1', '0.2', '0.3'):
        assert f'| {thr:>8} |' in out
    metrics = json.load(open(metrics_json))
    assert {'mIoU', 'oracle_mIoU', 'oracle_bg', 'gt_free_mIoU',
            'output_ignored_pct'} <= set(metrics)
    assert metrics['oracle_bg'] in (0.1, 0.2, 0.3)

    # a rerun restores every image from the cache instead of recomputing
    os.remove(osp.join(pseudo, pngs[0]))
    out = _run('test.py', test_args)
    assert '9 image(s) were finished by an earlier run' in out
    assert osp.isfile(osp.join(pseudo, pngs[0]))
    assert json.load(open(metrics_json)) == metrics

    # --resume continues from iter_4 under torch.load(weights_only=True)
    cfg6 = _write_config(tmp_path, 6)
    out = _run('train.py', [cfg6, '--work-dir', work, '--resume'])
    assert 'resumed epoch: 0, iter: 4' in out
    assert osp.isfile(osp.join(work, 'iter_6.pth'))

    # load_from a runner checkpoint into a fresh run
    work2 = str(tmp_path / 'work2')
    out = _run('train.py', [cfg4, '--work-dir', work2, '--cfg-options',
                            f"load_from={osp.join(work, 'iter_6.pth')}"])
    assert 'Load checkpoint from' in out
    assert osp.isfile(osp.join(work2, 'iter_4.pth'))

    # --resume of a run that was initialised by load_from continues its own
    # iter_4, not the iter_6 of load_from (mmengine's rule would resume
    # iter_6 and end a 6-iteration schedule without training a step)
    out = _run('train.py', [cfg6, '--work-dir', work2, '--resume',
                            '--cfg-options',
                            f"load_from={osp.join(work, 'iter_6.pth')}"])
    assert 'resumed epoch: 0, iter: 4' in out
    assert 'Iter(train) [5/6]' in out
    assert osp.isfile(osp.join(work2, 'iter_6.pth'))

    # --resume with nothing to resume yet: a fresh run from load_from
    work3 = str(tmp_path / 'work3')
    out = _run('train.py', [cfg4, '--work-dir', work3, '--resume',
                            '--cfg-options',
                            f"load_from={osp.join(work, 'iter_6.pth')}"])
    assert 'resumed epoch' not in out and 'Load checkpoint from' in out
    assert osp.isfile(osp.join(work3, 'iter_4.pth'))


def test_corrupt_checkpoint_is_named(tmp_path):
    cfg = _write_config(tmp_path, 2)
    bad = tmp_path / 'broken.pth'
    bad.write_bytes(b'PK\x03\x04 definitely not a checkpoint')
    code, out = run_tool(
        'test.py', [cfg, str(bad), '--work-dir',
                    str(tmp_path / 'w')], check=False)
    assert code == 1
    assert f'checkpoint {bad} is corrupt' in out


def _pngs_bytes(folder):
    return {
        f: open(osp.join(folder, f), 'rb').read()
        for f in sorted(os.listdir(folder)) if f.endswith('.png')
    }


def test_another_checkpoint_into_the_same_out_is_computed(tmp_path):
    """``tools/test.py CFG A.pth --out M`` then ``CFG B.pth --out M``: the
    second gives B's masks and metrics (as a fresh run), not A's from the
    cache; the same for another ``model.test_cfg``."""
    work = str(tmp_path / 'work')
    cfg = _write_config(tmp_path, 2)
    _run('train.py', [cfg, '--work-dir', work, '--cfg-options',
                      'default_hooks.checkpoint.interval=1'])
    a, b = (osp.join(work, f'iter_{i}.pth') for i in (1, 2))

    def test(ckpt, out, name, *options):
        metrics = str(tmp_path / f'{name}.json')
        args = [cfg, ckpt, '--work-dir', work, '--out',
                str(tmp_path / out), '--metrics-json', metrics]
        if options:
            args += ['--cfg-options', *options]
        log = _run('test.py', args)
        return log, json.load(open(metrics))

    _, first = test(a, 'M', 'a')
    log, second = test(b, 'M', 'b')
    assert 'finished by an earlier run' not in log
    _, fresh = test(b, 'fresh_b', 'fresh_b')
    assert second == fresh and second != first
    assert _pngs_bytes(tmp_path / 'M') == _pngs_bytes(tmp_path / 'fresh_b')

    # another background threshold into the same folder
    thr = 'model.test_cfg.bg.thr=0.1'
    log, third = test(b, 'M', 'thr', thr)
    assert 'finished by an earlier run' not in log
    assert 'configured (thr=0.1)' in log
    _, fresh = test(b, 'fresh_thr', 'fresh_thr', thr)
    assert third == fresh and third != second
    assert _pngs_bytes(tmp_path / 'M') == _pngs_bytes(tmp_path / 'fresh_thr')


def test_checkpoint_of_another_model_is_refused(tmp_path):
    """``tools/test.py`` with a checkpoint of another model used to warn
    about missing keys, write masks from an untrained head and exit 0."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    from mmwsss.testing import write_tiny_seg_config
    cfg = _write_config(tmp_path, 2)
    seg = Config.fromfile(write_tiny_seg_config(
        str(tmp_path / 'seg.py'), str(tmp_path / 'data')))
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(seg.model)
    other = str(tmp_path / 'deeplab.pth')
    torch.save(dict(meta={}, state_dict=model.state_dict()), other)
    out = str(tmp_path / 'M')
    args = [cfg, other, '--work-dir', str(tmp_path / 'w'), '--out', out]
    code, log = run_tool('test.py', args, check=False)
    assert code == 1
    assert (f'RuntimeError: the checkpoint {other} does not fit the model '
            'CAMSegmentor: 1 key(s) of the model are not in it '
            '(cam_head.classifier.weight); 4 key(s) in it are not in the '
            'model (decode_head.aspp.0.weight, decode_head.aspp.0.bias, '
            'decode_head.aspp.1.weight, decode_head.aspp.1.bias). Is it the '
            'checkpoint of another model or config? To load it anyway (what '
            'does not match keeps its initialisation, with a warning), run '
            'tools/test.py with --non-strict-load.') in log, log[-3000:]
    assert not osp.isdir(out) or not os.listdir(out)  # nothing written
    # asked for: loaded with mmengine's warning
    log = _run('test.py', args + ['--non-strict-load'])
    assert 'missing keys in source state_dict' in log
    assert len(_pngs_bytes(out)) == 10


class _Killed(BaseException):
    """Stands for a SIGKILL: not an Exception, so nothing handles it."""


def test_final_validation_killed_then_resumed_keeps_its_metrics(
        tmp_path, monkeypatch):
    """The pipeline's train stage reruns a killed training with --resume;
    killed during the final validation (after the last checkpoint), the
    resumed run used to have nothing left to do and wrote no metrics."""
    cfg = _write_config(tmp_path, 2)
    work = str(tmp_path / 'work')
    metrics_json = osp.join(work, 'val_metrics.json')
    args = [cfg, '--work-dir', work, '--metrics-json', metrics_json]
    run = ValLoop.run

    def killed_in_final_val(self):
        if self.runner.iter == self.runner.max_iters:
            raise _Killed
        return run(self)

    with monkeypatch.context() as m:
        m.setattr(ValLoop, 'run', killed_in_final_val)
        with pytest.raises(_Killed):
            run_tool('train.py', args)
    assert open(osp.join(work, 'last_checkpoint')).read().strip().endswith(
        'iter_2.pth')
    assert not osp.exists(metrics_json)
    log = _run('train.py', args + ['--resume'])
    assert 'resumed epoch: 0, iter: 2' in log
    resumed = json.load(open(metrics_json))
    assert resumed['iter'] == 2
    # the metrics of the uninterrupted run
    other = str(tmp_path / 'other.json')
    _run('train.py', [cfg, '--work-dir', str(tmp_path / 'work2'),
                      '--metrics-json', other])
    assert resumed == json.load(open(other))
    assert 'multi-label/mAP' in resumed['metrics']
