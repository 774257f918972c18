# Copyright (c) OpenMMLab. All rights reserved.
"""The ``points_boxes`` stage kind (point and box labels derived from the
masks of a config's split) and the MSRC-21 SPML pipelines that use it."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmwsss.apis.pipeline import (STAGE_KINDS, PipelineError,
                                  load_pipeline_config)
from mmwsss.testing import REPO_ROOT, run_tool

KIND = STAGE_KINDS.get('points_boxes')


def _dataset(root):
    """A VOC-layout folder: three masks, two of them in train.txt."""
    (root / 'SegmentationClass').mkdir(parents=True)
    (root / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    for i, cls in enumerate((8, 12, 15)):
        mask = np.zeros((12, 16), np.uint8)
        mask[2:9, 3 + i:10 + i] = cls
        Image.fromarray(mask).save(root / 'SegmentationClass' / f'm{i}.png')
    (root / 'ImageSets' / 'Segmentation' / 'train.txt').write_text('m0\nm2\n')


_STAGE_CONFIG = """
train_dataloader = dict(dataset=dict(
    type='WSSSVOCDataset', data_root='{root}',
    ann_file='ImageSets/Segmentation/train.txt',
    data_prefix=dict(img_path='JPEGImages',
                     seg_map_path='SegmentationClass')))
"""


def test_points_boxes_kind_is_registered_outside_the_runner():
    assert KIND.__module__.startswith('mmwsss.engine.')
    assert KIND.settings == dict(
        split='train',
        classes='voc',
        label_seed=0,
        points=1,
        min_area=50,
        connectivity=8)
    assert KIND.outputs == ('points', 'boxes', 'work_dir')
    fixed = dict(KIND.settings)
    assert KIND.tool_args(fixed, 'r', 'SegmentationClass', 'r/l.txt', 'o',
                          seed=7) == [
                              'r', 'o', '--mask-dir', 'SegmentationClass',
                              '--list', 'r/l.txt', '--classes', 'voc',
                              '--seed', '0', '--points', '1', '--min-area',
                              '50', '--connectivity', '8'
                          ]
    # label_seed None: the pipeline's seed draws the labels
    per_seed = dict(fixed, label_seed=None)
    args = KIND.tool_args(per_seed, 'r', 'S', None, 'o', seed=7)
    assert '--list' not in args and args[args.index('--seed') + 1] == '7'


@pytest.mark.parametrize('bad, match', [
    (dict(split='trainaug'), 'split'),
    (dict(label_seed='0'), 'label_seed'),
    (dict(points=0), 'points'),
    (dict(min_area=2.5), 'min_area'),
    (dict(connectivity=6), 'connectivity'),
    (dict(classes=None), 'classes'),
])
def test_points_boxes_kind_checks_its_settings(tmp_path, bad, match):
    (tmp_path / 'c.py').write_text('a = 1\n')
    stage = dict(name='weak_labels', kind='points_boxes', config='c.py', **bad)
    (tmp_path / 'p.py').write_text(f'stages = [{stage!r}]\n')
    with pytest.raises(PipelineError, match=match):
        load_pipeline_config(str(tmp_path / 'p.py'))


def test_points_boxes_dataset_files(tmp_path):
    """The masks and ids of the split, with the runner's data root."""

    class Ctx:
        data_root = str(tmp_path / 'msrc')

    spml = osp.join(REPO_ROOT, 'configs', 'spml',
                    'spml-points_r18w32-d16_1xb16-2.2k_msrc21-96x96.py')
    stage = dict(KIND.settings, name='weak_labels')
    assert KIND.dataset_files(Ctx, stage, spml) == (
        Ctx.data_root, 'SegmentationClass',
        osp.join(Ctx.data_root, 'ImageSets/Segmentation/train.txt'))
    Ctx.data_root = None
    assert KIND.dataset_files(Ctx, stage, spml)[0] == 'data/msrc21'
    (tmp_path / 'no_masks.py').write_text(
        "train_dataloader = dict(dataset=dict(data_root='d', "
        "data_prefix=dict(img_path='JPEGImages')))\n")
    with pytest.raises(PipelineError, match='seg_map_path'):
        KIND.dataset_files(Ctx, stage, str(tmp_path / 'no_masks.py'))


def test_points_boxes_stage_runs(tmp_path):
    """A real pipeline of one `points_boxes` stage, in this process: the
    labels of the train ids only, written in the stage folder (the same
    bytes as the tool run by hand), its metrics; a rerun skips it."""
    root = tmp_path / 'data'
    _dataset(root)
    (tmp_path / 'stage.py').write_text(
        _STAGE_CONFIG.format(root='data/never_used'))
    (tmp_path / 'pipeline.py').write_text(
        "stages = [dict(name='weak_labels', kind='points_boxes', "
        "config='stage.py', min_area=4)]\n")
    work = str(tmp_path / 'work')
    argv = [
        str(tmp_path / 'pipeline.py'), '--work-dir', work, '--quiet',
        '--in-process', '--data-root',
        str(root)
    ]
    run_tool('run_pipeline.py', argv)
    stage_dir = osp.join(work, 'seed_0', 'weak_labels')
    done = json.load(open(osp.join(stage_dir, 'stage.json')))
    labels = osp.join(stage_dir, 'labels')
    assert done['outputs'] == dict(
        points=osp.join(labels, 'Points'),
        boxes=osp.join(labels, 'Annotations'),
        work_dir=stage_dir)
    # one point and one box per component: background and the class
    assert done['metrics'] == dict(
        num_images=2, points_per_image=2.0, boxes_per_image=1.0)
    assert sorted(os.listdir(osp.join(labels, 'Points'))) == [
        'm0.png', 'm2.png'
    ]
    points = np.asarray(Image.open(osp.join(labels, 'Points', 'm2.png')))
    assert sorted(np.unique(points).tolist()) == [0, 15, 255]
    # the tool by hand writes the same files
    by_hand = str(tmp_path / 'by_hand')
    run_tool('dataset_converters/masks_to_points_boxes.py', [
        str(root), by_hand, '--list',
        str(root / 'ImageSets' / 'Segmentation' / 'train.txt'), '--min-area',
        '4'
    ])
    for sub in ('Points/m0.png', 'Annotations/m2.xml'):
        assert open(osp.join(by_hand, sub), 'rb').read() == open(
            osp.join(labels, sub), 'rb').read()
    stamp = osp.getmtime(osp.join(stage_dir, 'stage.json'))
    run_tool('run_pipeline.py', argv)
    assert osp.getmtime(osp.join(stage_dir, 'stage.json')) == stamp


@pytest.mark.parametrize('sup, names', [
    ('points', [
        'regions', 'weak_labels', 'embedding', 'pseudo_masks',
        'segmentation', 'test', 'test_tta'
    ]),
    ('tags', [
        'classifier', 'regions', 'cams', 'embedding', 'pseudo_masks',
        'nn_masks', 'classifier_round', 'round2_masks', 'round2_nn_masks',
        'segmentation', 'test', 'test_tta'
    ]),
])
def test_spml_msrc21_pipelines(sup, names):
    """The MSRC-21 SPML chains: the CAM baseline's budget (2,200
    iterations) for the embedding; points derived from the masks."""
    path = osp.join(REPO_ROOT, 'configs', 'pipelines',
                    f'pipeline_spml-{sup}-deeplabv2_msrc21.py')
    stages = {s['name']: s for s in load_pipeline_config(path).stages}
    assert list(stages) == names
    spml = osp.join(REPO_ROOT, 'configs', 'spml',
                    f'spml-{sup}_r18w32-d16_1xb16-2.2k_msrc21-96x96.py')
    assert osp.normpath(stages['embedding']['config']) == spml
    from mmengine.config import Config
    cfg = Config.fromfile(spml)
    cam = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'cam',
                 'cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py'))
    assert cfg.train_cfg.max_iters == cam.train_cfg.max_iters == 2200
    assert cfg.optim_wrapper == cam.optim_wrapper
    assert cfg.train_dataloader.batch_size == cam.train_dataloader.batch_size
    if sup == 'points':
        weak = stages['weak_labels']
        assert (weak['kind'], weak['label_seed'], weak['classes'],
                osp.normpath(weak['config'])) == ('points_boxes', 0, 'voc',
                                                  spml)
        assert stages['embedding']['inputs'][
            'train_dataloader.dataset.data_prefix.point_path'] == \
            'weak_labels.points'
    else:
        assert osp.normpath(stages['classifier']['config']) == osp.join(
            REPO_ROOT, 'configs', 'cam',
            'cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py')
