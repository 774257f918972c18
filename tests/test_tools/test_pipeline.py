# Copyright (c) OpenMMLab. All rights reserved.
"""tools/run_pipeline.py: a whole chain on a tiny generated set, a kill
after stage 1 and a resume, and the checks that run before any stage."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from mmengine.config import Config

from mmwsss.apis.pipeline import (PipelineError, WSSSPipeline,
                                  format_results, load_pipeline_config,
                                  summarise_runs)
from mmwsss.testing import REPO_ROOT, write_tiny_pipeline_config

pytestmark = pytest.mark.slow

RESULT_KEYS = {
    'cam_pseudo_mask_mIoU', 'refined_pseudo_mask_mIoU', 'val_mIoU',
    'val_mIoU_tta', 'seed', 'stage_wall_time_s'
}
STAGES = ['classifier', 'pseudo_masks', 'refinement', 'segmentation', 'test',
          'test_tta']


def _cmd(pipeline, work):
    return [
        sys.executable, 'tools/run_pipeline.py', pipeline, '--work-dir', work
    ]


def _env():
    return dict(os.environ, PYTHONPATH=REPO_ROOT)


def _run_quiet(pipeline, work):
    """Run the pipeline tool with ``--quiet``; it must succeed."""
    out = subprocess.run(
        _cmd(pipeline, work) + ['--quiet'],
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out


def test_pipeline_runs_kill_after_stage1_resumes(tmp_path):
    pipeline = write_tiny_pipeline_config(
        str(tmp_path), iters=2, refinement=True, crf='deeplab-v2')
    work = str(tmp_path / 'work')
    run_dir = osp.join(work, 'seed_0')
    done1 = osp.join(run_dir, 'classifier', 'stage.json')

    # first run: killed (SIGKILL, the whole process group) as soon as the
    # classifier stage is recorded as finished
    proc = subprocess.Popen(
        _cmd(pipeline, work),
        cwd=REPO_ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.time() + 300
    while not osp.isfile(done1):
        assert proc.poll() is None, 'the pipeline exited before stage 1 ended'
        assert time.time() < deadline, 'stage 1 did not finish in 300 s'
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not osp.isfile(osp.join(run_dir, 'pseudo_masks', 'stage.json'))
    stage1 = json.load(open(done1))
    ckpt = stage1['checkpoint']
    assert osp.isfile(ckpt)
    ckpt_mtime = os.stat(ckpt).st_mtime_ns

    # the rerun starts at stage 2 and does not retrain the classifier
    out = _run_quiet(pipeline, work)
    assert 'classifier: done before' in out.stdout
    assert 'pseudo_masks: running' in out.stdout
    assert 'classifier: running' not in out.stdout
    assert os.stat(ckpt).st_mtime_ns == ckpt_mtime
    with open(osp.join(run_dir, 'classifier', 'stage.log')) as f:
        assert f.read().count('tools/train.py') == 1  # trained once

    results = json.load(open(osp.join(work, 'results.json')))
    assert RESULT_KEYS <= set(results)
    assert results['seed'] == 0
    assert list(results['stage_wall_time_s']) == STAGES
    for key in ('cam_pseudo_mask_mIoU', 'refined_pseudo_mask_mIoU',
                'val_mIoU', 'val_mIoU_tta'):
        assert 0.0 <= results[key] <= 100.0, key
    assert results['val_tta_setting'] == dict(tta=True, crf='deeplab-v2')
    # the classifier's last validation, saved by MetricsJsonHook
    cls_val = results['runs'][0]['classifier_val']
    assert 0.0 <= cls_val['multi-label/mAP'] <= 100.0
    assert 'WSSS pipeline results' in out.stdout
    assert 'val mIoU, MS+flip + CRF (deeplab-v2)' in out.stdout

    # the pseudo masks of every train image exist; stage 3 trained on the
    # refined ones (the segmentation stage was pointed at them)
    masks = osp.join(run_dir, 'refinement', 'masks')
    assert len([f for f in os.listdir(masks) if f.endswith('.png')]) == 10
    with open(osp.join(run_dir, 'segmentation', 'stage.log')) as f:
        assert f'pseudo_mask_dir={masks}' in f.read()
    # the numbers in results.json are the stages' own metrics
    pm = json.load(open(osp.join(run_dir, 'pseudo_masks', 'metrics.json')))
    assert results['cam_pseudo_mask_mIoU'] == pm['mIoU']
    report = json.load(
        open(osp.join(run_dir, 'pseudo_masks', 'masks',
                      'pseudo_mask_eval.json')))
    assert report['configured']['mIoU'] == pm['mIoU']

    # a third run has nothing left to do
    out = _run_quiet(pipeline, work)
    assert out.stdout.count('done before') == len(STAGES)
    again = json.load(open(osp.join(work, 'results.json')))
    assert again['val_mIoU'] == results['val_mIoU']

    # a finished stage is not reused with other settings: the CRF of the
    # final test changed, so the run stops and names the folder to delete
    text = open(pipeline).read().replace("crf='deeplab-v2'", "crf='psa'")
    open(pipeline, 'w').write(text)
    with pytest.raises(PipelineError) as e:
        WSSSPipeline(load_pipeline_config(pipeline), work, quiet=True).run()
    assert 'stage `test_tta`' in str(e.value)
    assert f'Delete {osp.join(run_dir, "test_tta")}' in str(e.value)


def test_missing_stage_config_fails_before_anything_runs(tmp_path):
    pipeline = write_tiny_pipeline_config(str(tmp_path))
    text = open(pipeline).read().replace("'tiny_seg.py'", "'nope_seg.py'")
    open(pipeline, 'w').write(text)
    work = str(tmp_path / 'work')
    out = subprocess.run(
        _cmd(pipeline, work),
        cwd=REPO_ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300)
    assert out.returncode == 1
    assert 'segmentation.config nope_seg.py does not exist' in out.stderr
    assert not osp.exists(work)  # nothing ran


def test_failing_stage_stops_with_its_log(tmp_path):
    pipeline = write_tiny_pipeline_config(
        str(tmp_path),
        extra="classifier = dict(config='tiny_cam.py', cfg_options={"
        "'train_dataloader.dataset.ann_file': 'nope.txt'})\n")
    work = str(tmp_path / 'work')
    with pytest.raises(PipelineError) as e:
        WSSSPipeline(load_pipeline_config(pipeline), work, quiet=True).run()
    msg = str(e.value)
    log = osp.join(work, 'seed_0', 'classifier', 'stage.log')
    assert 'stage `classifier` failed (exit code 1)' in msg
    assert f'its full log is {log}' in msg
    assert 'nope.txt' in msg  # the last lines of the log show the cause
    assert not osp.exists(osp.join(work, 'seed_0', 'classifier',
                                   'stage.json'))
    assert not osp.exists(osp.join(work, 'seed_0', 'pseudo_masks'))


def test_pipeline_config_checks(tmp_path):
    pipeline = write_tiny_pipeline_config(str(tmp_path))
    cfg = load_pipeline_config(pipeline)
    # stage configs are resolved against the pipeline config's folder
    assert cfg.classifier['config'] == str(tmp_path / 'tiny_cam.py')
    with pytest.raises(PipelineError, match='does not exist'):
        load_pipeline_config(str(tmp_path / 'missing.py'))
    bad = tmp_path / 'bad.py'
    bad.write_text("segmentation = dict(config='tiny_seg.py')\n")
    with pytest.raises(PipelineError, match='`classifier` must be a dict'):
        load_pipeline_config(str(bad))
    bad.write_text(open(pipeline).read() + '\nrepeat = 0\n')
    with pytest.raises(PipelineError, match='repeat must be an int >= 1'):
        load_pipeline_config(str(bad))
    broken = tmp_path / 'broken_seg.py'
    broken.write_text('model = dict(\n')
    bad.write_text(
        open(pipeline).read().replace("'tiny_seg.py'", "'broken_seg.py'"))
    with pytest.raises(PipelineError, match='cannot be read'):
        load_pipeline_config(str(bad))


def test_seeds_from_seed_and_repeat(tmp_path):
    cfg = Config(dict(seed=5, repeat=3, classifier={}, segmentation={}))
    assert WSSSPipeline(cfg, str(tmp_path)).seeds == [5, 6, 7]
    assert WSSSPipeline(cfg, str(tmp_path), seeds=[1]).seeds == [1]


def _run(seed, cam, val, tta):
    return dict(
        seed=seed,
        cam_pseudo_mask_mIoU=cam,
        cam_pseudo_mask_oracle_mIoU=None,
        refined_pseudo_mask_mIoU=None,
        val_mIoU=val,
        val_mIoU_tta=tta,
        val_tta_setting=dict(tta=True, crf=None),
        classifier_val={},
        stage_wall_time_s=dict(classifier=10.0, test=2.0))


def test_summarise_runs_mean_and_spread():
    runs = [_run(0, 30.0, 40.0, 41.0), _run(1, 34.0, 44.0, 45.5)]
    res = summarise_runs(runs)
    assert res['seed'] == [0, 1]
    assert res['cam_pseudo_mask_mIoU'] == 32.0
    # sample standard deviation of (30, 34): sqrt(8) = 2.83
    assert res['summary']['cam_pseudo_mask_mIoU']['std'] == 2.83
    assert res['summary']['val_mIoU_tta'] == dict(
        mean=43.25, std=3.18, min=41.0, max=45.5, values=[41.0, 45.5])
    assert res['refined_pseudo_mask_mIoU'] is None
    assert 'refined_pseudo_mask_mIoU' not in res['summary']
    assert res['stage_wall_time_s'] == dict(classifier=10.0, test=2.0)
    table = format_results(res)
    assert '32.00 ± 2.83' in table and '43.25 ± 3.18' in table
    one = summarise_runs([_run(3, 30.0, 40.0, 41.0)])
    assert one['seed'] == 3 and one['val_mIoU'] == 40.0
    assert one['summary']['val_mIoU']['std'] == 0.0
    assert np.isclose(one['summary']['val_mIoU']['mean'], 40.0)


def test_eps_affinitynet_pipeline(tmp_path):
    """EPS -> AffinityNet (trained on the saved CAMs) -> DeepLab-v2."""
    pipeline = write_tiny_pipeline_config(
        str(tmp_path), iters=2, refinement='affinitynet', method='eps')
    work = str(tmp_path / 'work')
    out = _run_quiet(pipeline, work)
    run_dir = osp.join(work, 'seed_0')
    results = json.load(open(osp.join(work, 'results.json')))
    assert list(results['stage_wall_time_s']) == [
        'classifier', 'pseudo_masks', 'refinement_train', 'refinement',
        'segmentation', 'test', 'test_tta'
    ]
    for key in ('cam_pseudo_mask_mIoU', 'refined_pseudo_mask_mIoU',
                'refined_pseudo_mask_oracle_mIoU', 'val_mIoU'):
        assert 0.0 <= results[key] <= 100.0, key
    cams = osp.join(run_dir, 'pseudo_masks', 'masks', 'cams')
    assert len(os.listdir(cams)) == 10
    # the EPS classifier logged its saliency loss
    with open(osp.join(run_dir, 'classifier', 'stage.log')) as f:
        assert 'loss_sal' in f.read()
    # the refiner trained on the saved CAMs and refined them
    for stage, key in (('refinement_train', 'train'),
                       ('refinement', 'test')):
        with open(osp.join(run_dir, stage, 'stage.log')) as f:
            assert f'{key}_dataloader.dataset.cam_dir={cams}' in f.read()
    refined = osp.join(run_dir, 'refinement', 'masks')
    assert len([f for f in os.listdir(refined) if f.endswith('.png')]) == 10
    report = json.load(open(osp.join(refined, 'pseudo_mask_eval.json')))
    assert report['configured']['rule']['output'] == 'propagated'
    with open(osp.join(run_dir, 'segmentation', 'stage.log')) as f:
        assert f'pseudo_mask_dir={refined}' in f.read()


def test_retrain_round_relabels_and_retrains(tmp_path):
    """One relabel + retrain round (Luo & Yang): the last round's model is
    tested, and a rerun skips every stage."""
    pipeline = write_tiny_pipeline_config(
        str(tmp_path),
        iters=2,
        retrain_rounds=1,
        extra="segmentation = dict(config='tiny_seg.py', tta=False)\n")
    assert load_pipeline_config(pipeline).retrain == dict(rounds=1)
    bad = tmp_path / 'bad.py'
    for setting, msg in (
        ('dict(rounds=-1)', 'retrain.rounds must be an int >= 0'),
        ('dict(rounds=1.5)', 'retrain.rounds must be an int >= 0'),
        ("dict(fill='some')", 'retrain.fill must be one of'),
        ('dict(round=1)', r'unknown key\(s\) retrain.round '),
        ('3', '`retrain` must be a dict or None'),
    ):
        bad.write_text(open(pipeline).read() + f'retrain = {setting}\n')
        with pytest.raises(PipelineError, match=msg):
            load_pipeline_config(str(bad))
    work = str(tmp_path / 'work')
    out = _run_quiet(pipeline, work)
    run_dir = osp.join(work, 'seed_0')
    stages = [
        'classifier', 'pseudo_masks', 'segmentation', 'relabel_1',
        'segmentation_1', 'test'
    ]
    for stage in stages:
        assert osp.isfile(osp.join(run_dir, stage, 'stage.json')), stage
    results = json.load(open(osp.join(work, 'results.json')))
    assert list(results['stage_wall_time_s']) == stages
    # the CAM masks have no ignored pixel, so fill='uncertain' keeps them:
    # the relabelled masks are the same masks, with the same mIoU
    cam_masks = osp.join(run_dir, 'pseudo_masks', 'masks')
    new_masks = osp.join(run_dir, 'relabel_1', 'masks')
    pngs = sorted(f for f in os.listdir(cam_masks) if f.endswith('.png'))
    assert len(pngs) == 10
    assert sorted(f for f in os.listdir(new_masks)
                  if f.endswith('.png')) == pngs
    from PIL import Image
    for name in pngs:
        assert np.array_equal(
            np.asarray(Image.open(osp.join(cam_masks, name))),
            np.asarray(Image.open(osp.join(new_masks, name))))
    relabel = json.load(open(osp.join(run_dir, 'relabel_1', 'metrics.json')))
    assert relabel['filled_pct'] == 0.0 and relabel['changed_pct'] == 0.0
    assert results['relabelled_pseudo_mask_mIoU'] == relabel['mIoU'] == \
        results['cam_pseudo_mask_mIoU']
    rounds = results['runs'][0]['rounds']
    assert len(rounds) == 2 and results['rounds'] == rounds
    assert [r['round'] for r in rounds] == [0, 1]
    assert rounds[0]['pseudo_mask_mIoU'] == results['cam_pseudo_mask_mIoU']
    assert rounds[0]['filled_pct'] is None
    assert rounds[1]['pseudo_mask_mIoU'] == relabel['mIoU']
    assert rounds[1]['filled_pct'] == 0.0
    for r, stage in ((0, 'segmentation'), (1, 'segmentation_1')):
        val = json.load(open(osp.join(run_dir, stage, 'val_metrics.json')))
        assert rounds[r]['val_mIoU'] == val['metrics']['mIoU']
    # round 1 relabelled with round 0's model and trained on its masks;
    # the final test used round 1's model
    done = {
        s: json.load(open(osp.join(run_dir, s, 'stage.json')))
        for s in stages
    }
    assert done['relabel_1']['checkpoint'] == \
        done['segmentation']['checkpoint']
    assert done['relabel_1']['signature']['relabel'] == cam_masks
    with open(osp.join(run_dir, 'segmentation_1', 'stage.log')) as f:
        assert f'pseudo_mask_dir={new_masks}' in f.read()
    assert done['test']['checkpoint'] == done['segmentation_1']['checkpoint']
    assert 'round 1: train-mask mIoU' in out.stdout

    # a second invocation has nothing left to do
    again = _run_quiet(pipeline, work)
    assert again.stdout.count('done before') == len(stages)
    assert 'running' not in again.stdout


def test_class_pattern_pipeline_fills_uncertain_pixels(tmp_path):
    """Luo & Yang as a pipeline: classifier -> class patterns -> Algorithm 1
    masks (with uncertain pixels) -> segmentation -> relabel (fills exactly
    the uncertain pixels) -> retrain -> test."""
    pipeline = write_tiny_pipeline_config(
        str(tmp_path),
        iters=2,
        method='dcp',
        retrain_rounds=1,
        extra="segmentation = dict(config='tiny_seg.py', tta=False)\n")
    work = str(tmp_path / 'work')
    out = _run_quiet(pipeline, work)
    run_dir = osp.join(work, 'seed_0')
    results = json.load(open(osp.join(work, 'results.json')))
    assert list(results['stage_wall_time_s']) == [
        'classifier', 'class_patterns', 'pseudo_masks', 'segmentation',
        'relabel_1', 'segmentation_1', 'test'
    ]
    assert osp.isfile(osp.join(run_dir, 'class_patterns',
                               'class_patterns.pth'))
    assert results['class_pattern_explained_pct'] > 0
    stage2 = json.load(open(osp.join(run_dir, 'pseudo_masks',
                                     'metrics.json')))
    report = json.load(open(osp.join(run_dir, 'pseudo_masks', 'masks',
                                     'pseudo_mask_eval.json')))
    assert report['configured']['rule']['output'] == 'model'
    # the segmentation model labels every pixel, so the relabel pass fills
    # exactly the pixels Algorithm 1 left uncertain
    relabel = json.load(open(osp.join(run_dir, 'relabel_1', 'metrics.json')))
    assert relabel['prev_ignored_pct'] == pytest.approx(
        stage2['output_ignored_pct'], abs=0.01)
    assert relabel['filled_pct'] == pytest.approx(
        stage2['output_ignored_pct'], abs=0.01)
    assert results['rounds'][0]['pseudo_mask_mIoU'] == stage2['mIoU']
