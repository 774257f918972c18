# Copyright (c) OpenMMLab. All rights reserved.
"""The pipeline runner: the real pipeline graphs on a tiny generated set,
a kill after stage 1 and a resume, the checks that run before any stage,
and a stage kind added from outside.

The pipelines run in this process (``tools/run_pipeline.py --in-process``:
every stage's tool through its ``main(argv)``);
:func:`test_run_pipeline_script_equals_in_process` runs the scripts as
processes and checks that both give the same outputs."""
import ast
import glob
import json
import os
import os.path as osp
import re
import shlex
import signal
import socket
import sys
import time

import numpy as np
import pytest
from mmengine.config import Config

from mmwsss.apis.pipeline import (STAGE_KINDS, PipelineError, PipelineRunner,
                                  StageKind, WorkDirLock, format_results,
                                  load_pipeline_config, stage_config,
                                  summarise_runs)
from mmwsss.testing import (PIPELINES, REPO_ROOT, run_tool, start_script,
                            write_tiny_pipeline_config)

CAM_STAGES = [
    'classifier', 'pseudo_masks', 'refinement', 'segmentation', 'test',
    'test_tta'
]


class _Killed(BaseException):
    """Stands for a SIGKILL: not an Exception, so nothing handles it."""


def _run_quiet(pipeline, work, *args):
    """``tools/run_pipeline.py PIPELINE --work-dir WORK --quiet
    --in-process`` in this process; it must succeed. Returns its output."""
    return run_tool('run_pipeline.py', [
        pipeline, '--work-dir', work, '--quiet', '--in-process', *args
    ])[1]


def _pngs(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith('.png'))


@pytest.mark.slow
def test_pipeline_runs_kill_after_stage1_resumes(tmp_path, monkeypatch):
    pipeline = write_tiny_pipeline_config(
        str(tmp_path),
        'cam',
        stage_options=dict(
            test_tta=dict(cfg_options={'tta_model.crf': 'deeplab-v2'})))
    work = str(tmp_path / 'work')
    run_dir = osp.join(work, 'seed_0')
    done1 = osp.join(run_dir, 'classifier', 'stage.json')

    # first run: killed as soon as the classifier stage is recorded as
    # finished (when the pseudo-mask stage starts its tool)
    run_tool_of_stage = PipelineRunner.run_tool

    def killed_in_stage2(self, name, *args):
        if name == 'pseudo_masks':
            raise _Killed
        return run_tool_of_stage(self, name, *args)

    with monkeypatch.context() as m:
        m.setattr(PipelineRunner, 'run_tool', killed_in_stage2)
        with pytest.raises(_Killed):
            _run_quiet(pipeline, work)
    assert osp.isdir(osp.join(run_dir, 'pseudo_masks'))
    assert not osp.isfile(osp.join(run_dir, 'pseudo_masks', 'stage.json'))
    stage1 = json.load(open(done1))
    ckpt = stage1['outputs']['checkpoint']
    assert osp.isfile(ckpt)
    ckpt_mtime = os.stat(ckpt).st_mtime_ns

    # the rerun starts at stage 2 and does not retrain the classifier
    out = _run_quiet(pipeline, work)
    assert 'classifier: done before' in out
    assert 'pseudo_masks: running' in out
    assert 'classifier: running' not in out
    assert os.stat(ckpt).st_mtime_ns == ckpt_mtime
    with open(osp.join(run_dir, 'classifier', 'stage.log')) as f:
        assert f.read().count('tools/train.py') == 1  # trained once

    results = json.load(open(osp.join(work, 'results.json')))
    assert results['seed'] == 0
    assert list(results['stage_wall_time_s']) == CAM_STAGES
    # exactly the results the stages report, in stage order
    assert list(results['labels']) == [
        'pseudo_mask_mIoU', 'pseudo_mask_oracle_mIoU',
        'pseudo_mask_gt_free_mIoU', 'refined_pseudo_mask_mIoU',
        'val_mIoU', 'val_mIoU_tta'
    ]
    # the numbers in results.json are the stages' own metrics
    pm = json.load(open(osp.join(run_dir, 'pseudo_masks', 'metrics.json')))
    assert results['pseudo_mask_mIoU'] == pm['mIoU']
    assert results['pseudo_mask_oracle_mIoU'] == pm['oracle_mIoU']
    assert results['pseudo_mask_gt_free_mIoU'] == pm['gt_free_mIoU']
    refined = json.load(
        open(osp.join(run_dir, 'refinement', 'metrics.json')))
    assert results['refined_pseudo_mask_mIoU'] == refined['mIoU']
    for stage, key in (('test', 'val_mIoU'), ('test_tta', 'val_mIoU_tta')):
        metrics = json.load(open(osp.join(run_dir, stage, 'metrics.json')))
        assert results[key] == metrics['mIoU'], key
    # the classifier's last validation, saved by MetricsJsonHook
    cls_val = results['runs'][0]['stage_metrics']['classifier']
    val = json.load(open(osp.join(run_dir, 'classifier',
                                  'val_metrics.json')))
    assert cls_val == val['metrics'] and val['iter'] == 2
    assert 'multi-label/mAP' in cls_val
    assert 'WSSS pipeline results' in out
    assert 'pseudo-mask mIoU (train, oracle bg)' in out
    # no row for what this pipeline does not run
    assert 'class patterns' not in out
    assert 'relabelled' not in out

    _check_pictures(run_dir, pm, metrics)

    # the pseudo masks of every train image exist; stage 3 trained on the
    # refined ones: its stage config names their folder
    masks = osp.join(run_dir, 'refinement', 'masks')
    assert len(_pngs(masks)) == 10
    seg_cfg = Config.fromfile(
        osp.join(run_dir, 'segmentation', 'stage_config.py'))
    assert seg_cfg.train_dataloader.dataset.data_prefix.seg_map_path == masks
    tta_cfg = Config.fromfile(osp.join(run_dir, 'test_tta',
                                       'stage_config.py'))
    assert tta_cfg.tta_model.crf == 'deeplab-v2'

    # a third run has nothing left to do
    out = _run_quiet(pipeline, work)
    assert out.count('done before') == len(CAM_STAGES)
    again = json.load(open(osp.join(work, 'results.json')))
    assert again['val_mIoU'] == results['val_mIoU']

    # a finished stage is not reused with other settings: the CRF of the
    # final test changed, so the run stops and names the folder to delete
    text = open(pipeline).read().replace("'deeplab-v2'", "'psa'")
    open(pipeline, 'w').write(text)
    with pytest.raises(PipelineError) as e:
        PipelineRunner(load_pipeline_config(pipeline), work, quiet=True).run()
    assert 'stage `test_tta`' in str(e.value)
    assert f'Delete {osp.join(run_dir, "test_tta")}' in str(e.value)


def _check_pictures(run_dir, pm, tta_metrics):
    """The pictures of a tiny CAM chain: each mask stage's grid and sweep
    (MaskGridHook, LocalVisBackend) and the seed's summary picture."""
    from PIL import Image

    from mmwsss.engine import choose_images
    from mmwsss.visualization import panel_starts
    for stage in ('pseudo_masks', 'refinement', 'test_tta'):
        grids = glob.glob(
            osp.join(run_dir, stage, '*', 'vis_data', 'vis_image',
                     'masks_0.png'))
        assert len(grids) == 1, stage
    assert glob.glob(osp.join(run_dir, 'pseudo_masks', '*', 'vis_data',
                              'vis_image', 'masks_sweep_0.png'))
    # the summary: per-class IoU from the written masks equals the stages'
    # own mIoU (the metrics round to 2 decimals)
    table = json.load(open(osp.join(run_dir, 'summary.json')))['class_iou']
    assert list(table) == ['pseudo_masks', 'refinement', 'test_tta']

    def miou(stage):
        return np.nanmean([np.nan if v is None else v
                           for v in table[stage].values()])

    assert miou('pseudo_masks') == pytest.approx(pm['mIoU'], abs=0.006)
    assert miou('test_tta') == pytest.approx(tta_metrics['mIoU'], abs=0.006)
    # its first block: image | pseudo_masks | refinement | ground truth of
    # the seeded train images; a 40 x 40 image fills 96 x 96 of a
    # 96 x 128 cell (16 px white each side), under a 22-px header and an
    # 18-px caption: mask pixel (r, c) -> (40 + 2.4 r, x0 + 16 + 2.4 c)
    picture = np.asarray(Image.open(osp.join(run_dir, 'summary.png')))
    first = choose_images(10, 6, 0)[0]
    name = f'syn_{first:06d}'
    # the dataset's palette, as PredictionWriterHook wrote it
    palette = Image.open(
        osp.join(run_dir, 'pseudo_masks', 'masks', name + '.png')).getpalette()
    x0 = panel_starts(96, [1] * 4)
    data = osp.dirname(osp.dirname(run_dir))
    for col, path in ((1, osp.join(run_dir, 'pseudo_masks', 'masks')),
                      (3, glob.glob(osp.join(data, 'data', '**',
                                             'SegmentationClass'),
                                    recursive=True)[0])):
        mask = np.asarray(Image.open(osp.join(path, name + '.png')))
        for r, c in ((5, 5), (20, 20), (35, 10), (30, 30)):
            v = int(mask[r, c])
            want = [255] * 3 if v == 255 else palette[3 * v:3 * v + 3]
            got = picture[40 + int((r + 0.5) * 2.4),
                          x0[col] + 16 + int((c + 0.5) * 2.4)]
            assert got.tolist() == want, (col, r, c)


def test_class_iou_by_hand(tmp_path):
    from PIL import Image

    from mmwsss.apis.pipeline.summary import class_iou

    def png(name, array):
        path = str(tmp_path / name)
        Image.fromarray(np.asarray(array, np.uint8)).save(path)
        return path

    # pred [[0, 1], [1, 255]] against gt [[0, 1], [0, 1]]:
    # class 0: inter 1, union 2 -> 50; class 1: inter 1 (pixel (0, 1)),
    # pred area 2 + gt area 2 - 1 = 3 -> 33.33 (the 255 prediction is a
    # miss of class 1); class 2: in neither -> NaN. A second image whose
    # ground truth is all 255 adds nothing.
    pairs = [(png('p.png', [[0, 1], [1, 255]]),
              png('g.png', [[0, 1], [0, 1]])),
             (png('p2.png', [[2, 2]]), png('g2.png', [[255, 255]]))]
    iou = class_iou(pairs, 3)
    assert iou[:2] == pytest.approx([50.0, 100 / 3])
    assert np.isnan(iou[2])


@pytest.mark.slow
def test_eps_affinitynet_pipeline(tmp_path):
    """EPS -> AffinityNet (trained on the saved maps) -> DeepLab-v2, all of
    it (configs, data, work dir) in a folder whose path has a space and a
    non-ASCII character: the paths that stages hand on keep them."""
    folder = tmp_path / 'wörk dir'
    folder.mkdir()
    # test_tta (multi-scale + flip) is left out: the CAM pipeline test runs
    # it, with the CRF
    pipeline = write_tiny_pipeline_config(
        str(folder), 'eps_affinitynet', drop=('test_tta', ))
    work = str(folder / 'work')
    _run_quiet(pipeline, work)
    run_dir = osp.join(work, 'seed_0')
    results = json.load(open(osp.join(work, 'results.json')))
    assert list(results['stage_wall_time_s']) == [
        'classifier', 'pseudo_masks', 'refinement_train', 'refinement',
        'segmentation', 'test'
    ]
    # the reported numbers are the stages' own
    for key, stage, metric in (
        ('pseudo_mask_mIoU', 'pseudo_masks', 'mIoU'),
        ('refined_pseudo_mask_mIoU', 'refinement', 'mIoU'),
        ('refined_pseudo_mask_oracle_mIoU', 'refinement', 'oracle_mIoU'),
        ('val_mIoU', 'test', 'mIoU'),
    ):
        metrics = json.load(open(osp.join(run_dir, stage, 'metrics.json')))
        assert results[key] == metrics[metric], key
    cams = osp.join(run_dir, 'pseudo_masks', 'masks', 'cams')
    assert len(os.listdir(cams)) == 10
    # the grid tool draws the saved maps and masks of the stage by hand
    grids = osp.join(str(folder), 'grids')
    run_tool('analysis_tools/cam_grid.py', [
        osp.join(run_dir, 'pseudo_masks', 'stage_config.py'),
        osp.join(run_dir, 'pseudo_masks', 'masks'), '--split', 'test',
        '--num', '3', '--per-grid', '2', '--out-dir', grids
    ])
    assert sorted(os.listdir(grids)) == ['grid_000.png', 'grid_001.png']
    # the EPS classifier logged its saliency loss
    with open(osp.join(run_dir, 'classifier', 'stage.log')) as f:
        assert 'loss_sal' in f.read()
    # the refiner trained on the saved maps and refined them
    for stage, loader in (('refinement_train', 'train_dataloader'),
                          ('refinement', 'test_dataloader')):
        cfg = Config.fromfile(osp.join(run_dir, stage, 'stage_config.py'))
        assert cfg[loader].dataset.data_prefix.cam_path == cams
    refined = osp.join(run_dir, 'refinement', 'masks')
    assert len(_pngs(refined)) == 10
    seg = Config.fromfile(osp.join(run_dir, 'segmentation',
                                   'stage_config.py'))
    assert seg.train_dataloader.dataset.data_prefix.seg_map_path == refined


# the stages the RPNet -> IRN test runs (stage 3, which only reads the
# refined masks, is covered by the EPS -> AffinityNet and CAM tests)
IRN_STAGES = [
    'classifier', 'pseudo_masks', 'refinement_train', 'refinement'
]


# the pipelines no end-to-end test runs (eps_affinitynet and classpattern
# have their own), and the plain CAM one (no stage reads maps); SPML's
# (their first stage is not a classifier) are in test_spml_pipeline.py
@pytest.mark.parametrize(
    'name',
    sorted(n for n in set(PIPELINES) - {'eps_affinitynet', 'classpattern'}
           if not n.startswith('spml_')))
def test_tiny_pipelines_save_the_maps_a_stage_reads(tmp_path, name):
    """Every tiny pipeline: its stage configs load, and the classifier
    saves its CAMs exactly when a later stage reads them (the real CAM
    config always saves them; the tiny one only when needed)."""
    pipeline = write_tiny_pipeline_config(str(tmp_path), name)
    stages = Config.fromfile(pipeline).stages
    reads_maps = any(
        str(v).endswith('.maps') for s in stages for v in s['inputs'].values())
    assert reads_maps == (name not in ('cam', 'classpattern'))
    cfg = Config.fromfile(osp.join(str(tmp_path), stages[0]['config']))
    writer, = [h for h in cfg.custom_hooks
               if h['type'] == 'PredictionWriterHook']
    assert writer['save_maps'] == reads_maps
    for stage in stages:
        cfg = Config.fromfile(osp.join(str(tmp_path), stage['config']))
        loader = cfg[f"{stage['kind']}_dataloader"]  # the one it uses
        assert loader.num_workers == 0, stage['name']
    if name == 'rpnet_irn':
        rpnet = Config.fromfile(osp.join(str(tmp_path), 'tiny_rpnet.py'))
        data = rpnet.train_dataloader.dataset
        assert data.type == 'ImageGroupDataset'
        assert data.dataset.data_root == osp.join(str(tmp_path), 'data')
        assert rpnet.model.cam_head.in_channels == (16, 64)
        irn = Config.fromfile(osp.join(str(tmp_path), 'tiny_irn.py'))
        assert irn.model.boundary_head.in_channels == (8, 8, 16, 32, 64)
        assert irn.train_dataloader.dataset.data_root == data.dataset.data_root


@pytest.mark.slow
def test_rpnet_irn_pipeline(tmp_path):
    """RPNet (image groups) -> IRN (frozen backbone from the classifier,
    trained on the saved CAMs, then walking them); the graph's stage 3 is
    left out (the EPS -> AffinityNet test runs it on refined masks)."""
    import torch
    pipeline = write_tiny_pipeline_config(
        str(tmp_path), 'rpnet_irn', drop=('segmentation', 'test', 'test_tta'))
    work = str(tmp_path / 'work')
    out = _run_quiet(pipeline, work)
    run_dir = osp.join(work, 'seed_0')
    results = json.load(open(osp.join(work, 'results.json')))
    assert list(results['stage_wall_time_s']) == IRN_STAGES
    done = {
        s: json.load(open(osp.join(run_dir, s, 'stage.json')))
        for s in IRN_STAGES
    }

    # the classifier trained on image groups: a query and one reference
    # per group, collated flat (4 queries -> 8 images a batch), and its
    # consistency loss ran
    cls_cfg = Config.fromfile(
        osp.join(run_dir, 'classifier', 'stage_config.py'))
    loader = cls_cfg.train_dataloader
    assert loader.collate_fn.type == 'group_collate'
    assert loader.dataset.type == 'ImageGroupDataset'
    assert loader.dataset.num_references == 1
    assert loader.batch_size == 4
    with open(osp.join(run_dir, 'classifier', 'stage.log')) as f:
        log = f.read()
    assert 'ImageGroupDataset: 10 queries, 1-1 reference(s) each' in log
    losses = [float(v) for v in re.findall(r'loss_consistency: ([0-9.e+-]+)',
                                           log)]
    assert len(losses) == 2  # logged at both iterations
    assert 'loss_cls_enh' in log

    # IRN's frozen backbone is the classifier's: its stage config names the
    # classifier's checkpoint and the trained refiner keeps those weights
    cls_ckpt = done['classifier']['outputs']['checkpoint']
    irn_cfg = Config.fromfile(
        osp.join(run_dir, 'refinement_train', 'stage_config.py'))
    assert irn_cfg.model.backbone.init_cfg.checkpoint == cls_ckpt
    cams = osp.join(run_dir, 'pseudo_masks', 'masks', 'cams')
    assert irn_cfg.train_dataloader.dataset.data_prefix.cam_path == cams
    cls_sd = _state_dict(cls_ckpt)
    irn_sd = _state_dict(done['refinement_train']['outputs']['checkpoint'])
    backbone = sorted(k for k in cls_sd if k.startswith('backbone.'))
    assert backbone == sorted(k for k in irn_sd if k.startswith('backbone.'))
    assert 'backbone.layer4.1.conv2.weight' in backbone
    for key in backbone:  # weights and BN statistics, bit for bit
        assert torch.equal(cls_sd[key], irn_sd[key]), key
    assert any(k.startswith('boundary_head.') for k in irn_sd)
    # the refinement walked the same CAMs with the trained refiner
    assert done['refinement']['signature']['args']['checkpoint'] == \
        done['refinement_train']['outputs']['checkpoint']
    ref_cfg = Config.fromfile(
        osp.join(run_dir, 'refinement', 'stage_config.py'))
    assert ref_cfg.test_dataloader.dataset.data_prefix.cam_path == cams

    # CAMs saved and masks refined for every train image
    train_ids = open(osp.join(str(tmp_path), 'data', 'ImageSets',
                              'Segmentation', 'train.txt')).read().split()
    assert len(train_ids) == 10
    assert sorted(os.listdir(cams)) == sorted(i + '.npz' for i in train_ids)
    refined = osp.join(run_dir, 'refinement', 'masks')
    assert _pngs(refined) == sorted(i + '.png' for i in train_ids)

    # the reported numbers are the stages' own
    for key, stage, metric in (
        ('pseudo_mask_mIoU', 'pseudo_masks', 'mIoU'),
        ('pseudo_mask_oracle_mIoU', 'pseudo_masks', 'oracle_mIoU'),
        ('pseudo_mask_gt_free_mIoU', 'pseudo_masks', 'gt_free_mIoU'),
        ('refined_pseudo_mask_mIoU', 'refinement', 'mIoU'),
        ('refined_pseudo_mask_oracle_mIoU', 'refinement', 'oracle_mIoU'),
        ('refined_pseudo_mask_gt_free_mIoU', 'refinement', 'gt_free_mIoU'),
    ):
        metrics = json.load(open(osp.join(run_dir, stage, 'metrics.json')))
        assert results[key] == metrics[metric], key
    assert 'IRN pseudo-mask mIoU (train, bg 0.25 after the walk)' in out


@pytest.mark.slow
def test_class_pattern_pipeline_fills_uncertain_pixels(tmp_path):
    """Luo & Yang as a pipeline: classifier -> class patterns + Algorithm 1
    masks (with uncertain pixels) -> segmentation -> relabel (fills exactly
    the uncertain pixels) -> retrain -> test, and a rerun skips all."""
    pipeline = write_tiny_pipeline_config(
        str(tmp_path), 'classpattern', stage_options=dict(test_tta=dict(tta=False)))
    work = str(tmp_path / 'work')
    out = _run_quiet(pipeline, work)
    run_dir = osp.join(work, 'seed_0')
    results = json.load(open(osp.join(work, 'results.json')))
    stages = [
        'classifier', 'pseudo_masks', 'segmentation', 'relabel_1',
        'segmentation_1', 'test', 'test_tta'
    ]
    assert list(results['stage_wall_time_s']) == stages
    # the fitted class patterns were saved by the pseudo-mask pass
    assert glob.glob(osp.join(run_dir, 'pseudo_masks', '**',
                              'class_patterns.pth'), recursive=True)
    assert results['class_pattern_explained_pct'] > 0
    stage2 = json.load(
        open(osp.join(run_dir, 'pseudo_masks', 'metrics.json')))
    assert results['uncertain_pct'] == stage2['output_ignored_pct']
    assert stage2['output_ignored_pct'] > 0  # Algorithm 1 left some
    # the segmentation model labels every pixel, so the relabel pass fills
    # exactly the pixels Algorithm 1 left uncertain
    relabel = json.load(open(osp.join(run_dir, 'relabel_1', 'metrics.json')))
    assert relabel['prev_ignored_pct'] == pytest.approx(
        stage2['output_ignored_pct'], abs=0.01)
    assert results['relabel_filled_pct'] == pytest.approx(
        stage2['output_ignored_pct'], abs=0.01)
    assert results['relabelled_pseudo_mask_mIoU'] == relabel['mIoU']
    # round 1 relabelled with round 0's model and trained on its masks;
    # the final tests used round 1's model
    done = {
        s: json.load(open(osp.join(run_dir, s, 'stage.json')))
        for s in stages
    }
    assert done['relabel_1']['signature']['args']['checkpoint'] == \
        done['segmentation']['outputs']['checkpoint']
    seg1 = Config.fromfile(
        osp.join(run_dir, 'segmentation_1', 'stage_config.py'))
    assert seg1.train_dataloader.dataset.data_prefix.seg_map_path == \
        osp.join(run_dir, 'relabel_1', 'masks')
    assert done['test']['signature']['args']['checkpoint'] == \
        done['segmentation_1']['outputs']['checkpoint']
    assert 'round 1: pixels filled by relabelling %' in out
    # a second invocation has nothing left to do
    again = _run_quiet(pipeline, work)
    assert again.count('done before') == len(stages)
    assert 'running' not in again


def _two_stage_pipeline(folder):
    """The first two stages of the tiny CAM pipeline (train, then test
    with the masks written), in ``folder``."""
    full = write_tiny_pipeline_config(folder, 'cam')
    stages = Config.fromfile(full).to_dict()['stages'][:2]
    path = osp.join(folder, 'two_stages.py')
    with open(path, 'w') as f:
        f.write(f'stages = {stages!r}\nseed = 0\nrepeat = 1\nnproc = 1\n')
    return path


def _state_dict(path):
    import torch
    checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    return checkpoint['state_dict']


@pytest.mark.slow
def test_run_pipeline_script_equals_in_process(tmp_path, monkeypatch):
    """The smoke test of the scripts: ``tools/run_pipeline.py`` as a user
    runs it, its stages ``tools/train.py`` and ``tools/test.py`` as
    processes; the same pipeline in-process gives the same checkpoint,
    masks and metrics."""
    pipeline = _two_stage_pipeline(str(tmp_path))
    script_work = str(tmp_path / 'script')
    script = start_script([
        sys.executable, 'tools/run_pipeline.py', pipeline, '--work-dir',
        script_work
    ])
    # meanwhile (on the other core), the same pipeline in this process
    in_work = str(tmp_path / 'in_process')
    # the scripts run with OMP_NUM_THREADS=1 (mmwsss.testing's script
    # environment); an in-process run takes its thread count from the same
    # variable, as a new process does (float sums depend on it)
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    PipelineRunner(
        load_pipeline_config(pipeline), in_work, quiet=True,
        in_process=True).run()
    code, out = script.result()
    assert code == 0, out[-4000:]
    assert '[pipeline] classifier: running' in out
    assert 'WSSS pipeline results' in out
    assert 'loss_cls' in out  # the stages' output is echoed

    for work in (script_work, in_work):
        log = open(osp.join(work, 'seed_0', 'classifier', 'stage.log')).read()
        assert 'loss_cls' in log and 'multi-label/mAP' in log
        assert log.count('tools/train.py') == 1
        assert ('# in process' in log) == (work == in_work)
        log = open(osp.join(work, 'seed_0', 'pseudo_masks',
                            'stage.log')).read()
        assert 'Pseudo-mask mIoU over the background sweep' in log
    script, inproc = (json.load(open(osp.join(w, 'results.json')))
                      for w in (script_work, in_work))
    for key in ('labels', 'pseudo_mask_mIoU',
                'pseudo_mask_oracle_mIoU', 'pseudo_mask_gt_free_mIoU'):
        assert script[key] == inproc[key], key
    assert script['runs'][0]['stage_metrics'] == \
        inproc['runs'][0]['stage_metrics']
    for stage in ('classifier', 'pseudo_masks'):
        a, b = (json.dumps(
            Config.fromfile(osp.join(w, 'seed_0', stage,
                                     'stage_config.py')).to_dict(),
            sort_keys=True) for w in (script_work, in_work))
        assert a.replace(script_work, in_work) == b, stage
    a, b = (_state_dict(
        json.load(open(osp.join(w, 'seed_0', 'classifier',
                                'stage.json')))['outputs']['checkpoint'])
            for w in (script_work, in_work))
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)
    a, b = (osp.join(w, 'seed_0', 'pseudo_masks', 'masks')
            for w in (script_work, in_work))
    assert len(_pngs(a)) == 10 and _pngs(a) == _pngs(b)
    for name in _pngs(a):
        assert open(osp.join(a, name), 'rb').read() == open(
            osp.join(b, name), 'rb').read(), name


def test_one_run_per_work_dir(tmp_path):
    """A second run_pipeline.py into a work dir in use stops at once,
    naming the first (pid, host, command, start time); the lock goes with
    its holder, even when it is killed."""
    pipeline = write_tiny_pipeline_config(str(tmp_path))
    work = str(tmp_path / 'work')
    with WorkDirLock(work):  # this process is the first run
        start = time.time()
        code, out = run_tool(
            'run_pipeline.py', [pipeline, '--work-dir', work, '--quiet'],
            check=False)
        assert time.time() - start < 30  # refused up front
        assert code == 1, out
        command = shlex.join([osp.basename(sys.executable)] + sys.argv)
        assert out.startswith(
            f'[pipeline] error: the work dir {work} is in use by another '
            f'pipeline run: pid {os.getpid()} on {socket.gethostname()}, '
            'started 20'), out
        assert f', command: {command}. Two runs in one work dir would run ' \
            'every stage twice; wait for that run to end (or stop it) and ' \
            'rerun, or use another --work-dir. (lock file: ' \
            f'{osp.join(work, "pipeline.lock")})' in out, out
        assert 'running' not in out
        assert not osp.exists(osp.join(work, 'seed_0'))  # nothing ran

    # a holder killed by SIGKILL (a forked child) holds nothing any more
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            WorkDirLock(work).acquire()
            os.write(write, b'1')
            time.sleep(120)
        finally:
            os._exit(0)
    try:
        assert os.read(read, 1) == b'1'
        with pytest.raises(PipelineError, match=f'pid {pid} on '):
            WorkDirLock(work).acquire()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)
        os.close(write)
    with WorkDirLock(work) as lock:
        info = json.load(open(lock.path))
        assert info['pid'] == os.getpid()


def test_work_dir_lock_is_released_on_exit_and_error(tmp_path):
    work = str(tmp_path / 'w')
    with WorkDirLock(work):
        with pytest.raises(PipelineError, match=rf'pid {os.getpid()} on '):
            WorkDirLock(work).acquire()
        # a runner into that work dir is refused before any stage
        runner = PipelineRunner(Config(dict(stages=[])), work, quiet=True)
        with pytest.raises(PipelineError, match='is in use by another'):
            runner.run()
    with pytest.raises(ZeroDivisionError):
        with WorkDirLock(work):
            1 / 0
    PipelineRunner(Config(dict(stages=[])), work, quiet=True).run()
    assert open(osp.join(work, 'pipeline.lock')).read() == ''


def test_failing_stage_stops_with_its_log(tmp_path):
    pipeline = write_tiny_pipeline_config(
        str(tmp_path),
        stage_options=dict(
            classifier=dict(cfg_options={
                'train_dataloader.dataset.ann_file': 'nope.txt'
            })))
    work = str(tmp_path / 'work')
    with pytest.raises(PipelineError) as e:
        PipelineRunner(
            load_pipeline_config(pipeline), work, quiet=True,
            in_process=True).run()
    msg = str(e.value)
    log = osp.join(work, 'seed_0', 'classifier', 'stage.log')
    assert 'stage `classifier` failed (exit code 1, in process)' in msg
    assert f'its full log is {log}' in msg
    assert 'nope.txt' in msg  # the last lines of the log show the cause
    assert 'Traceback (most recent call last)' in open(log).read()
    assert not osp.exists(osp.join(work, 'seed_0', 'classifier',
                                   'stage.json'))
    assert not osp.exists(osp.join(work, 'seed_0', 'pseudo_masks'))


class _PythonStage(StageKind):
    """Runs ``python -c <code>`` as a process (``ctx.run_process``)."""

    name = 'python_for_test'
    settings = dict(code='')

    @classmethod
    def run(cls, ctx, stage, stage_dir, args, stage_config, seed):
        ctx.run_process(stage['name'], [ctx.python, '-c', stage['code']],
                        stage_dir)
        return dict(outputs={}, metrics={})


def test_stage_processes_log_and_fail(tmp_path, capsys):
    """A stage process's output goes to stage.log and the console (unless
    quiet); a failing one stops the run with its exit code and log."""
    STAGE_KINDS.register_module(module=_PythonStage, force=True)
    _write(tmp_path, 'a = 1\n', 'c.py')
    pipeline = _write(
        tmp_path, """
stages = [
    dict(name='ok', kind='python_for_test', config='c.py',
         code="print('hello from the stage')"),
    dict(name='bad', kind='python_for_test', config='c.py',
         code="import sys; print('the cause'); sys.exit(3)"),
]
""")
    work = tmp_path / 'w'
    with pytest.raises(PipelineError) as e:
        PipelineRunner(load_pipeline_config(pipeline), str(work)).run()
    log = str(work / 'seed_0' / 'bad' / 'stage.log')
    assert str(e.value).startswith(
        f'stage `bad` failed (exit code 3); its full log is {log}. ')
    assert str(e.value).endswith('Last lines:\n$ ' + ' '.join(
        [sys.executable, '-c', "import sys; print('the cause'); "
         'sys.exit(3)']) + '\nthe cause\n')
    assert 'hello from the stage' in capsys.readouterr().out
    assert open(work / 'seed_0' / 'ok' / 'stage.log').read().endswith(
        'hello from the stage\n')
    assert (work / 'seed_0' / 'ok' / 'stage.json').is_file()


def test_stage_commands(tmp_path):
    """One process per stage, or torch.distributed.run for nproc > 1; in
    this process only with one."""
    runner = PipelineRunner(Config(dict(stages=[])), str(tmp_path))
    script = osp.join(REPO_ROOT, 'tools', 'train.py')
    assert runner.command('train.py', ['a', 'b']) == [
        sys.executable, script, 'a', 'b'
    ]
    cmd = PipelineRunner(
        Config(dict(stages=[])), str(tmp_path), nproc=2,
        python='py').command('train.py', ['a'])
    assert cmd[:4] == ['py', '-m', 'torch.distributed.run',
                       '--nproc_per_node=2']
    assert re.fullmatch(r'--master_port=\d+', cmd[4])
    assert cmd[5:] == [script, 'a', '--launcher', 'pytorch']
    with pytest.raises(PipelineError, match='cannot run 2 processes'):
        PipelineRunner(
            Config(dict(stages=[])), str(tmp_path), nproc=2,
            in_process=True)


def _write(tmp_path, text, name='p.py'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_pipeline_config_checks(tmp_path):
    pipeline = write_tiny_pipeline_config(str(tmp_path))
    cfg = load_pipeline_config(pipeline)
    # stage configs are resolved against the pipeline config's folder
    assert cfg.stages[0]['config'] == str(tmp_path / 'tiny_cam.py')
    assert [s['name'] for s in cfg.stages] == CAM_STAGES
    assert cfg.stages[1]['tta'] is False and cfg.stages[1]['out'] is True
    with pytest.raises(PipelineError, match='missing.py does not exist'):
        load_pipeline_config(str(tmp_path / 'missing.py'))
    good = "dict(name='a', kind='train', config='tiny_cam.py')"
    for stages, msg in (
        ('[]', '`stages` must be a non-empty list'),
        ("[dict(name='a', kind='fit', config='tiny_cam.py')]",
         r"stage `a`: unknown kind 'fit' \(registered: .*test.*train"),
        ("[dict(name='a', kind='train', config='nope.py')]",
         'stage `a`.config nope.py does not exist'),
        ("[dict(name='a.b', kind='train', config='tiny_cam.py')]",
         'name must be a folder name'),
        (f'[{good}, {good}]', 'stage `a`: the name is used twice'),
        ("[dict(name='a', kind='train', config='tiny_cam.py', tta=True)]",
         r"stage `a`: unknown key\(s\) \['tta'\]"),
        ("[dict(name='t', kind='test', config='tiny_cam.py')]",
         'a `test` stage needs inputs.checkpoint'),
        ("[dict(name='t', kind='test', config='tiny_cam.py', "
         "inputs=dict(checkpoint='a.checkpoint'))]",
         'names stage `a`, which is not a stage of this pipeline'),
        (f"[{good}, dict(name='t', kind='test', config='tiny_cam.py', "
         "inputs=dict(checkpoint='a.masks'))]",
         'stage `a` has no output `masks` \\(its outputs: checkpoint'),
        (f"[{good}, dict(name='t', kind='test', config='tiny_cam.py', "
         "inputs=dict(checkpoint='a.checkpoint'), out='yes')]",
         'stage `t`.out must be True or False'),
        ("[dict(name='a', kind='train', config='tiny_cam.py', "
         "report=dict(x=3))]",
         'stage `a`.report.x must be a metric name'),
        (f"[dict(name='a', kind='train', config='tiny_cam.py', "
         "report=dict(x='mIoU')), dict(name='b', kind='train', "
         "config='tiny_cam.py', report=dict(x='mIoU'))]",
         'report.x: the result key is also reported by stage `a`'),
    ):
        bad = _write(tmp_path, f'stages = {stages}\n')
        with pytest.raises(PipelineError, match=msg):
            load_pipeline_config(bad)
    for extra, msg in (('repeat = 0', 'repeat must be an int >= 1'),
                       ('nproc = True', 'nproc must be an int >= 1'),
                       ('stagse = []', r"unknown key\(s\) \['stagse'\]"),
                       ('summary = dict(num=3)',
                        'summary must be None or a dict with the keys '
                        'num_images, seed, height')):
        bad = _write(tmp_path, f'stages = [{good}]\n{extra}\n')
        with pytest.raises(PipelineError, match=msg):
            load_pipeline_config(bad)
    old = _write(tmp_path, "classifier = dict(config='tiny_cam.py')\n")
    with pytest.raises(PipelineError, match='has no `stages` list'):
        load_pipeline_config(old)
    _write(tmp_path, 'model = dict(\n', 'broken.py')
    bad = _write(tmp_path,
                 "stages = [dict(name='a', kind='train', config='broken.py')]")
    with pytest.raises(PipelineError, match='cannot be read'):
        load_pipeline_config(bad)


def test_pipeline_config_inheritance(tmp_path):
    """Dict-form stages, `configs` names, None removes, input order."""
    write_tiny_pipeline_config(str(tmp_path))  # writes tiny_cam.py
    (tmp_path / '_base_').mkdir()
    _write(
        tmp_path / '_base_', "stages = dict(\n"
        "    a=dict(kind='train', config='cls'),\n"
        "    t=dict(kind='test', config='cls', inputs=dict("
        "checkpoint='a.checkpoint'), report=dict(x=dict(metric='mIoU'))),\n"
        "    u=dict(kind='test', config='cls', inputs=dict("
        "checkpoint='a.checkpoint')))\n", 'graph.py')
    leaf = _write(
        tmp_path, "_base_ = ['./_base_/graph.py']\n"
        "configs = dict(cls='tiny_cam.py')\n"
        "stages = dict(\n"
        "    u=None,\n"
        "    t=dict(inputs=dict(checkpoint='b.checkpoint'),"
        " report=dict(x=dict(label='X'))),\n"
        "    b=dict(kind='train', config='cls'))\n", 'leaf.py')
    cfg = load_pipeline_config(leaf)
    # `t` now reads `b`, which the leaf appended: it runs after `b`
    assert [s['name'] for s in cfg.stages] == ['a', 'b', 't']
    assert cfg.stages[2]['inputs'] == dict(checkpoint='b.checkpoint')
    assert cfg.stages[2]['report'] == dict(x=dict(metric='mIoU', label='X'))
    assert all(s['config'] == str(tmp_path / 'tiny_cam.py')
               for s in cfg.stages)
    for text, msg in (
        ("stages = dict(a=dict(kind='train', config='nocfg'))",
         r'config nocfg does not exist .* not a key of `configs` '
         r'\(keys: none\)'),
        ("configs = dict(cls=3)\n"
         "stages = dict(a=dict(kind='train', config='cls'))",
         r'config `cls` \(configs.cls\) must be a config path'),
        ("stages = dict(a=dict(name='b', kind='train', config='tiny_cam.py'))",
         'stages.a has name .b.; in the dict form the key is the name'),
        ("stages = dict(a=3)", 'stages.a must be a dict or None'),
        ("stages = dict(a=dict(kind='test', config='tiny_cam.py', "
         "inputs=dict(checkpoint='b.checkpoint')), b=dict(kind='test', "
         "config='tiny_cam.py', inputs=dict(checkpoint='a.checkpoint')))",
         r'the inputs of stages `a`, `b` form a cycle'),
    ):
        bad = _write(tmp_path, text + '\n', 'bad.py')
        with pytest.raises(PipelineError, match=msg):
            load_pipeline_config(bad)


def test_runner_names_no_method():
    """The runner's code (not its docstrings) names no stage or method."""
    words = ('classifier', 'class_pattern', 'refinement', 'retrain',
             'relabel', 'pseudo_mask', 'segmentation', 'cam', 'eps',
             'affinity')
    folder = osp.join(REPO_ROOT, 'mmwsss', 'apis', 'pipeline')
    for path in glob.glob(osp.join(folder, '*.py')):
        tree = ast.parse(open(path).read())
        docs = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node, clean=False)
                if doc is not None:
                    docs.add(doc)
        for node in ast.walk(tree):
            text = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = None if node.value in docs else node.value
            elif isinstance(node, ast.Name):
                text = node.id
            elif isinstance(node, ast.Attribute):
                text = node.attr
            if text:
                for word in words:
                    pattern = rf'(^|[^a-z]){word}([^a-z]|$)'
                    assert not re.search(pattern, text.lower()), (path, text)


def test_stage_config_keeps_every_character(tmp_path):
    """Paths reach a stage through its stage config, not a command-line
    parser: spaces, quotes and non-ASCII characters survive."""
    base = _write(tmp_path, "a = dict(b=dict(c=1), d=[1, 2])\nx = 'y'\n",
                  'base.py')
    weird = str(tmp_path / "wörk dir/it's here")
    cfg = stage_config(base, {'a.b.c': weird, 'a.d': [1, 5], 'x': None})
    runner = PipelineRunner(Config(dict(stages=[])), str(tmp_path))
    os.makedirs(tmp_path / 'stage')
    path = runner._write_stage_config(cfg, cfg.pretty_text,
                                      str(tmp_path / 'stage'))
    back = Config.fromfile(path)
    assert back.a.b.c == weird and back.a.d == [1, 5] and back.x is None


def test_seeds_from_seed_and_repeat(tmp_path):
    cfg = Config(dict(seed=5, repeat=3, stages=[]))
    assert PipelineRunner(cfg, str(tmp_path)).seeds == [5, 6, 7]
    assert PipelineRunner(cfg, str(tmp_path), seeds=[1]).seeds == [1]


def test_a_stage_kind_added_from_outside(tmp_path):
    """A kind registered by a project runs in the graph like the built-in
    ones: its outputs feed later stages and its metrics are reported."""

    class CountLines(StageKind):
        name = 'count_lines_for_test'
        settings = dict(factor=1)
        outputs = ('report', )

        @classmethod
        def run(cls, ctx, stage, stage_dir, args, stage_config, seed):
            lines = open(stage_config).read().count('\n')
            path = osp.join(stage_dir, 'report.txt')
            with open(path, 'w') as f:
                f.write(str(lines))
            return dict(
                outputs=dict(report=path),
                metrics=dict(lines=float(lines * stage['factor'] + seed)))

    STAGE_KINDS.register_module(module=CountLines, force=True)
    _write(tmp_path, 'a = 1\n', 'c.py')
    pipeline = _write(
        tmp_path, """
stages = [
    dict(name='one', kind='count_lines_for_test', config='c.py', factor=2,
         report=dict(n=dict(metric='lines', label='twice the lines'))),
    dict(name='two', kind='count_lines_for_test', config='c.py',
         inputs=dict(b='one.report'), report=dict(m='lines')),
]
repeat = 2
""")
    results = PipelineRunner(
        load_pipeline_config(pipeline), str(tmp_path / 'w'),
        quiet=True).run()
    one = open(tmp_path / 'w' / 'seed_0' / 'one' / 'stage_config.py').read()
    lines = one.count('\n')
    assert results['seed'] == [0, 1]
    assert results['summary']['n']['values'] == [2.0 * lines,
                                                 2.0 * lines + 1]
    two = Config.fromfile(
        str(tmp_path / 'w' / 'seed_1' / 'two' / 'stage_config.py'))
    assert two.b == str(tmp_path / 'w' / 'seed_1' / 'one' / 'report.txt')
    assert results['labels'] == dict(n='twice the lines', m='m')


def _run(seed, cam, val, tta):
    return dict(
        seed=seed,
        cam=cam,
        refined=None,
        val=val,
        tta=tta,
        stage_metrics={},
        stage_wall_time_s=dict(classifier=10.0, test=2.0))


def test_summarise_runs_mean_and_spread():
    labels = dict(cam='CAM', refined='refined', val='val', tta='val TTA')
    runs = [_run(0, 30.0, 40.0, 41.0), _run(1, 34.0, 44.0, 45.5)]
    res = summarise_runs(runs, labels)
    assert res['seed'] == [0, 1]
    assert res['cam'] == 32.0
    # sample standard deviation of (30, 34): sqrt(8) = 2.83
    assert res['summary']['cam']['std'] == 2.83
    assert res['summary']['tta'] == dict(
        mean=43.25, std=3.18, min=41.0, max=45.5, values=[41.0, 45.5])
    assert res['refined'] is None
    assert 'refined' not in res['summary']
    assert res['stage_wall_time_s'] == dict(classifier=10.0, test=2.0)
    table = format_results(res)
    assert '32.00 ± 2.83' in table and '43.25 ± 3.18' in table
    assert '| refined' in table and table.index('| CAM') < table.index(
        '| val TTA')
    one = summarise_runs([_run(3, 30.0, 40.0, 41.0)], labels)
    assert one['seed'] == 3 and one['val'] == 40.0
    assert one['summary']['val']['std'] == 0.0
    assert np.isclose(one['summary']['val']['mean'], 40.0)
