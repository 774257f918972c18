# Copyright (c) OpenMMLab. All rights reserved.
"""SPML's pipeline configs (one per supervision type) and the
``oversegment`` stage kind that makes their region maps."""
import json
import os
import os.path as osp

import pytest
from mmengine.config import Config

from mmwsss.apis.pipeline import (STAGE_KINDS, PipelineError,
                                  load_pipeline_config)
from mmwsss.testing import (PIPELINES, REPO_ROOT, TINY_GENERATE, run_tool,
                            write_tiny_pipeline_config)

REGION_PATH = 'train_dataloader.dataset.data_prefix.region_path'
CAM_PATH = 'train_dataloader.dataset.data_prefix.cam_path'
TEST_CAM_PATH = 'test_dataloader.dataset.data_prefix.cam_path'
SEG_MAP_PATH = 'train_dataloader.dataset.data_prefix.seg_map_path'
STAGE3 = ['segmentation', 'test', 'test_tta']
# supervision -> (stage names in run order, pseudo_masks inputs)
EXPECTED = dict(
    points=(['regions', 'embedding', 'pseudo_masks'] + STAGE3,
            dict(checkpoint='embedding.checkpoint')),
    scribbles=(['regions', 'embedding', 'pseudo_masks'] + STAGE3,
               dict(checkpoint='embedding.checkpoint')),
    boxes=(['classifier', 'regions', 'cams', 'embedding', 'pseudo_masks'] +
           STAGE3, dict(checkpoint='embedding.checkpoint')),
    tags=(['classifier', 'regions', 'cams', 'embedding', 'pseudo_masks',
           'nn_masks', 'classifier_round', 'round2_masks', 'round2_nn_masks'
           ] + STAGE3, {
              'checkpoint': 'embedding.checkpoint',
              TEST_CAM_PATH: 'cams.maps'
          }),
)


def _path(sup):
    return osp.join(REPO_ROOT, 'configs', 'pipelines',
                    f'pipeline_spml-{sup}-deeplabv2_synthetic.py')


@pytest.mark.parametrize('sup', sorted(EXPECTED))
def test_spml_pipeline_configs_load(sup):
    """Each SPML pipeline is a valid graph: its stages, their configs and
    inputs, the over-segmentation settings and the reported results."""
    assert PIPELINES[f'spml_{sup}'] == osp.basename(_path(sup))
    names, pseudo_inputs = EXPECTED[sup]
    stages = {s['name']: s for s in load_pipeline_config(_path(sup)).stages}
    assert list(stages) == names
    spml = osp.join(REPO_ROOT, 'configs', 'spml',
                    f'spml-{sup}_r18w32-d8_1xb16-600_synthetic-96x96.py')
    seg = osp.join(REPO_ROOT, 'configs', 'deeplabv2',
                   'deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')
    regions = stages['regions']
    assert regions['kind'] == 'oversegment'
    assert osp.normpath(regions['config']) == spml
    assert (regions['split'], regions['algorithm'],
            regions['params']) == ('train', 'felzenszwalb',
                                   dict(min_size=20))
    emb = stages['embedding']
    assert (emb['kind'], osp.normpath(emb['config'])) == ('train', spml)
    expected_inputs = {REGION_PATH: 'regions.regions'}
    if sup in ('tags', 'boxes'):
        expected_inputs[CAM_PATH] = 'cams.maps'
        cam = osp.join(REPO_ROOT, 'configs', 'cam',
                       'cam_r18w32-d8_1xb16-600_synthetic-96x96.py')
        assert osp.normpath(stages['classifier']['config']) == cam
        assert stages['cams']['out'] is True
        assert stages['cams']['inputs'] == dict(
            checkpoint='classifier.checkpoint')
        assert list(stages['cams']['report']) == ['cam_pseudo_mask_mIoU']
    assert emb['inputs'] == expected_inputs
    pm = stages['pseudo_masks']
    assert (pm['kind'], pm['out'], osp.normpath(pm['config'])) == ('test',
                                                                   True, spml)
    assert pm['inputs'] == pseudo_inputs
    assert list(pm['report']) == [
        'pseudo_mask_mIoU', 'pseudo_mask_oracle_mIoU',
        'pseudo_mask_gt_free_mIoU'
    ]
    # tags: DeepLab-v2 trains on the round-2 nearest-prototype masks
    last = 'round2_nn_masks' if sup == 'tags' else 'pseudo_masks'
    assert stages['segmentation']['inputs'] == {
        SEG_MAP_PATH: f'{last}.masks'
    }
    if sup == 'tags':
        nn = stages['nn_masks']
        assert (nn['kind'], nn['out'], osp.normpath(nn['config'])) == (
            'test', True, spml)
        assert nn['inputs'] == {
            'checkpoint': 'embedding.checkpoint',
            TEST_CAM_PATH: 'cams.maps',
            'model.prototype_dataloader.dataset.data_prefix.seg_map_path':
            'pseudo_masks.masks'
        }
        assert nn['cfg_options'] == {
            'model.test_cfg.seed': 'prototypes',
            'model.test_cfg.num_iters': 0
        }
        # round 2: the classifier on the frozen embedding, its masks, the
        # bank labelled by them
        round2 = osp.join(
            REPO_ROOT, 'configs', 'spml',
            'spml-tags-round2_r18w32-d8_1xb16-300_synthetic-96x96.py')
        cls = stages['classifier_round']
        assert (cls['kind'], osp.normpath(cls['config'])) == ('train', round2)
        assert cls['inputs'] == {
            'load_from': 'embedding.checkpoint',
            SEG_MAP_PATH: 'nn_masks.masks'
        }
        assert stages['round2_masks']['inputs'] == dict(
            checkpoint='classifier_round.checkpoint')
        nn2 = stages['round2_nn_masks']
        assert nn2['cfg_options'] == nn['cfg_options']
        assert nn2['inputs'] == dict(
            nn['inputs'], **{
                'model.prototype_dataloader.dataset.data_prefix.'
                'seg_map_path': 'round2_masks.masks'
            })
        cfg = Config.fromfile(round2)
        assert cfg.model.train_stage == 'classifier'
        assert cfg.model.test_cfg.num_iters == 1
    for name in STAGE3:
        assert osp.normpath(stages[name]['config']) == seg
    assert stages['test_tta']['tta'] and stages['test_tta']['out']
    assert stages['test']['inputs'] == stages['test_tta']['inputs'] == dict(
        checkpoint='segmentation.checkpoint')


def test_oversegment_kind_is_registered_outside_the_runner():
    kind = STAGE_KINDS.get('oversegment')
    assert kind.__module__.startswith('mmwsss.engine.')
    assert kind.settings == dict(
        split='train', algorithm='felzenszwalb', params=None)
    assert kind.outputs == ('regions', 'work_dir')
    stage = dict(kind.settings, params=dict(min_size=20))
    assert kind.tool_args(stage, 'c.py', 'out', 2) == [
        'c.py', 'out', '--split', 'train', '--algorithm', 'felzenszwalb',
        '--min-size', '20', '--workers', '2'
    ]


@pytest.mark.parametrize('bad, match', [
    (dict(split='trainaug'), 'split'),
    (dict(algorithm='quickshift'), 'algorithm'),
    (dict(params=dict(n_segments=10)), 'does not take'),
    (dict(params=dict(min_size='20')), 'number'),
])
def test_oversegment_kind_checks_its_settings(tmp_path, bad, match):
    cfg = tmp_path / 'c.py'
    cfg.write_text('a = 1\n')
    pipeline = tmp_path / 'p.py'
    stage = dict(name='regions', kind='oversegment', config='c.py', **bad)
    pipeline.write_text(f'stages = [{stage!r}]\n')
    with pytest.raises(PipelineError, match=match):
        load_pipeline_config(str(pipeline))


@pytest.mark.parametrize('sup', sorted(EXPECTED))
def test_tiny_spml_pipelines(tmp_path, sup):
    """The tiny stand-ins: the SPML config of the pipeline's supervision
    type for regions, embedding and pseudo_masks; the CAM classifier saves
    its CAMs (tags, boxes); no worker processes."""
    pipeline = write_tiny_pipeline_config(str(tmp_path), f'spml_{sup}')
    stages = Config.fromfile(pipeline).stages
    assert [s['name'] for s in stages] == EXPECTED[sup][0]
    by_name = {s['name']: s for s in stages}
    for name in ('regions', 'embedding', 'pseudo_masks') + (
            ('nn_masks', 'round2_nn_masks') if sup == 'tags' else ()):
        assert by_name[name]['config'] == f'tiny_spml-{sup}.py'
    if sup == 'tags':
        for name in ('classifier_round', 'round2_masks'):
            assert by_name[name]['config'] == 'tiny_spml-tags-round2.py'
    spml = Config.fromfile(osp.join(str(tmp_path), f'tiny_spml-{sup}.py'))
    weak = {
        'tags': 'TagsToWeakLabel',
        'boxes': 'LoadBoxWeakLabel',
        'points': 'LoadPointWeakLabel',
        'scribbles': 'LoadScribbleWeakLabel'
    }[sup]
    types = [t['type'] for t in spml.train_dataloader.dataset.pipeline]
    assert weak in types and 'LoadRegionMap' in types
    assert ('LoadCAMs' in types) == (sup in ('tags', 'boxes'))
    if sup in ('tags', 'boxes'):
        cam = Config.fromfile(osp.join(str(tmp_path), 'tiny_cam.py'))
        writer, = [h for h in cam.custom_hooks
                   if h['type'] == 'PredictionWriterHook']
        assert writer['save_maps']
    for stage in stages:
        cfg = Config.fromfile(osp.join(str(tmp_path), stage['config']))
        kind = 'train' if stage['kind'] == 'oversegment' else stage['kind']
        assert cfg[f'{kind}_dataloader'].num_workers == 0, stage['name']


def test_oversegment_source_config(tmp_path):
    """The tool lists the images of a config whose region maps do not
    exist yet: the split's file checks are off, the runner's data root is
    applied."""

    class Ctx:
        data_root = str(tmp_path / 'other_root')

    kind = STAGE_KINDS.get('oversegment')
    spml = osp.join(REPO_ROOT, 'configs', 'spml',
                    'spml-points_r18w32-d8_1xb16-600_synthetic-96x96.py')
    stage = dict(kind.settings, name='regions')
    source = kind.source_config(Ctx, stage, str(tmp_path), spml)
    assert source == str(tmp_path / 'oversegment_source.py')
    cfg = Config.fromfile(source)
    assert cfg.train_dataloader.dataset.check_files is False
    assert cfg.train_dataloader.dataset.data_root == Ctx.data_root
    assert 'check_files' not in cfg.test_dataloader.dataset
    Ctx.data_root = None
    cfg = Config.fromfile(kind.source_config(Ctx, stage, str(tmp_path), spml))
    assert cfg.train_dataloader.dataset.data_root == 'data/synthetic_wsss'


@pytest.mark.slow
def test_spml_tags_pipeline(tmp_path):
    """The tag pipeline's real graph on the tiny set (the longest SPML
    chain), every stage in this process: the CAM classifier and its CAMs ->
    regions (one map per train image) -> embedding (reads them) -> pseudo
    masks -> nearest prototypes (the bank fitted on the train images
    labelled by those masks) -> the classifier round on the frozen
    embedding -> its masks -> nearest prototypes again -> DeepLab-v2 -> val
    tests; a rerun skips every stage."""
    pipeline = write_tiny_pipeline_config(str(tmp_path), 'spml_tags')
    work = str(tmp_path / 'work')
    run_tool('run_pipeline.py',
             [pipeline, '--work-dir', work, '--quiet', '--in-process'])
    run_dir = osp.join(work, 'seed_0')
    results = json.load(open(osp.join(work, 'results.json')))
    names = EXPECTED['tags'][0]
    assert list(results['stage_wall_time_s']) == names

    regions = osp.join(run_dir, 'regions', 'regions')
    ids = open(
        osp.join(str(tmp_path), 'data', 'ImageSets', 'Segmentation',
                 'train.txt')).read().split()
    assert len(ids) == TINY_GENERATE['num_train']
    pngs = sorted(f for f in os.listdir(regions) if f.endswith('.png'))
    assert pngs == sorted(i + '.png' for i in ids)
    done = json.load(open(osp.join(run_dir, 'regions', 'stage.json')))
    assert done['outputs']['regions'] == regions
    assert done['metrics']['num_region_maps'] == len(ids)
    assert done['signature']['settings'] == dict(
        split='train', algorithm='felzenszwalb', params=dict(min_size=20))
    meta = json.load(open(osp.join(regions, 'oversegment_meta.json')))
    assert meta['params']['min_size'] == 20 and meta['complete']

    def stage_cfg(name):
        return Config.fromfile(osp.join(run_dir, name, 'stage_config.py'))

    emb = stage_cfg('embedding')
    assert emb.train_dataloader.dataset.data_prefix.region_path == regions
    assert emb.train_dataloader.dataset.data_prefix.cam_path == osp.join(
        run_dir, 'cams', 'masks', 'cams')
    assert emb.model.type == 'SPMLSegmentor'
    # the banks: every train image, labelled by the masks before them
    for name, labelled_by in (('nn_masks', 'pseudo_masks'),
                              ('round2_nn_masks', 'round2_masks')):
        cfg = stage_cfg(name)
        assert cfg.model.test_cfg.seed == 'prototypes'
        assert cfg.model.prototype_dataloader.dataset.data_prefix. \
            seg_map_path == osp.join(run_dir, labelled_by, 'masks')
        bank = json.load(
            open(osp.join(run_dir, name, 'spml_prototypes.json')))
        assert bank['metrics']['spml_prototypes/num_images'] == len(ids)
        assert osp.isfile(osp.join(run_dir, name, 'spml_prototypes.pth'))
    cls = stage_cfg('classifier_round')
    assert cls.model.train_stage == 'classifier'
    assert cls.load_from == osp.join(run_dir, 'embedding', 'iter_2.pth')
    assert cls.train_dataloader.dataset.data_prefix.seg_map_path == \
        osp.join(run_dir, 'nn_masks', 'masks')
    assert stage_cfg('segmentation').train_dataloader.dataset.data_prefix. \
        seg_map_path == osp.join(run_dir, 'round2_nn_masks', 'masks')
    for stage in ('pseudo_masks', 'nn_masks', 'round2_masks',
                  'round2_nn_masks'):
        masks = sorted(
            f for f in os.listdir(osp.join(run_dir, stage, 'masks'))
            if f.endswith('.png'))
        assert masks == pngs, stage
    for key in ('cam_pseudo_mask_mIoU', 'pseudo_mask_mIoU',
                'pseudo_mask_oracle_mIoU', 'nn_mask_mIoU',
                'round2_mask_mIoU', 'round2_nn_mask_mIoU',
                'round2_nn_mask_gt_free_mIoU', 'val_mIoU', 'val_mIoU_tta'):
        assert isinstance(results[key], float), (key, results[key])
        assert 0 <= results[key] <= 100
    assert results['labels']['nn_mask_mIoU'].startswith('SPML')

    # resumable: a rerun reuses every finished stage
    _, out = run_tool('run_pipeline.py',
                      [pipeline, '--work-dir', work, '--quiet',
                       '--in-process'])
    assert all(f'{name}: done before' in out for name in names)
