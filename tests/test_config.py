# Copyright (c) OpenMMLab. All rights reserved.
"""Every config builds: model, pipelines and evaluators."""
import ast
import collections
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import METRICS, MODELS, TRANSFORMS

import mmwsss  # noqa: F401
from mmwsss.testing import REPO_ROOT

ALL = sorted(
    p for p in glob.glob(
        osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)
# pipeline configs name stage configs; they are checked separately
PIPELINES = [p for p in ALL if osp.sep + 'pipelines' + osp.sep in p]
CONFIGS = [p for p in ALL if p not in PIPELINES]
NUM_CLASSES = {'voc12aug': 21, 'coco14': 81, 'synthetic': 6, 'msrc21': 21}


def _num_classes(model):
    """Classes incl. background of a CAM segmentor or a segmentor."""
    if type(model).__name__ == 'RelabelSegmentor':  # a segmentor's wrapper
        model = model.module
    if hasattr(model, 'cam_head'):
        return model.cam_head.num_classes + 1
    if hasattr(model, 'aff_head'):
        return model.aff_head.num_classes
    if hasattr(model, 'boundary_head'):  # IRNet
        return model.boundary_head.num_classes
    if hasattr(model, 'embedding_head'):  # SPMLSegmentor
        return model.num_classes
    return model.decode_head.num_classes


def _dataset(path):
    """The dataset part of a config name, e.g. ``'voc12aug'``."""
    name = osp.splitext(osp.basename(path))[0]
    return name.split('_')[-1].split('-')[0]


def _bases(path):
    """The files a config names in ``_base_`` (absolute paths)."""
    tree = ast.parse(open(path).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            value = ast.literal_eval(node.value)
            names = [value] if isinstance(value, str) else list(value)
            return [
                osp.normpath(osp.join(osp.dirname(path), n)) for n in names
            ]
    return []


def test_configs_found():
    """Exactly the shipped configs are found (and so built below): their
    number per dataset; and every ``_base_`` file is used by one of them."""
    assert len(CONFIGS) == 68
    assert len(PIPELINES) == 24
    assert collections.Counter(_dataset(p) for p in CONFIGS) == dict(
        voc12aug=32, coco14=8, msrc21=13, synthetic=15)
    assert collections.Counter(_dataset(p) for p in PIPELINES) == dict(
        voc12aug=8, coco14=1, msrc21=4, synthetic=11)
    used, todo = set(), list(CONFIGS)
    while todo:
        for base in _bases(todo.pop()):
            if base not in used:
                used.add(base)
                todo.append(base)
    bases = glob.glob(
        osp.join(REPO_ROOT, 'configs', '_base_', '**', '*.py'),
        recursive=True)
    assert bases and not set(map(osp.normpath, bases)) - used, \
        'unused _base_ files'


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path):
    cfg = Config.fromfile(path)
    init_default_scope(cfg.default_scope)
    model_cfg = cfg.model.copy()
    # Offline: never load the pretrained checkpoints named in init_cfg.
    # (RelabelSegmentor wraps a segmentor: its config is ``module``.)
    (model_cfg.get('module') or model_cfg).backbone.init_cfg = None
    # on the meta device: the modules and shapes without allocating and
    # initialising the weights (seconds for the ResNet-101s and WRN-38s)
    with torch.device('meta'):
        model = MODELS.build(model_cfg)
    assert _num_classes(model) == NUM_CLASSES[osp.basename(path).split('_')
                                              [-1].split('-')[0]]
    for split in ('train', 'val', 'test'):
        if cfg.get(f'{split}_dataloader') is None:  # refiners: no val
            continue
        dataset = cfg[f'{split}_dataloader'].dataset
        while 'pipeline' not in dataset:  # dataset wrappers (RPNet groups)
            dataset = dataset.dataset
        for t in dataset.pipeline:
            TRANSFORMS.build(t)
        if cfg[f'{split}_dataloader'].dataset.type == 'ImageGroupDataset':
            # groups are collated into one flat batch
            assert cfg[f'{split}_dataloader'].collate_fn.type == \
                'group_collate'
    patterns = cfg.model.get('pattern_dataloader')
    if patterns is not None:  # Luo & Yang: the data of the fitted state
        for t in patterns.dataset.dataset.pipeline:
            TRANSFORMS.build(t)
        assert patterns.dataset.type == 'PerClassDrawDataset'
        assert patterns.dataset.max_images_per_class in (800, 2000)
        assert 'FitModelStateHook' in [h.type for h in cfg.custom_hooks]
    if 'tta_pipeline' in cfg and not hasattr(model, 'cam_head'):
        # stage-3 configs: the final test's TTA model and pipeline build
        for t in cfg.tta_pipeline:
            TRANSFORMS.build(t)
        tta = MODELS.build(dict(cfg.tta_model, module=model))
        assert tta.module is model
    val_ev = cfg.get('val_evaluator') or []
    for ev in (val_ev if isinstance(val_ev, list) else [val_ev]) + [
            cfg.test_evaluator
    ]:
        METRICS.build(ev)
    # naming grammar: {method}_{backbone}_{N}xb{M}-{schedule}_{dataset}-{crop}
    name = osp.splitext(osp.basename(path))[0]
    parts = name.split('_')
    assert len(parts) == 4, name
    assert parts[2].split('-')[0].count('xb') == 1, name
    bs = int(parts[2].split('-')[0].split('xb')[1])
    assert cfg.train_dataloader.batch_size == bs, name


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS if 'synthetic' in p or 'msrc21' in p],
    ids=osp.basename)
def test_cpu_config_forward(path, tmp_path):
    """The configs that run here do a train step and a predict on CPU."""
    from mmwsss.testing import demo_wsss_inputs
    cfg = Config.fromfile(path)
    init_default_scope('mmseg')
    if (cfg.model.get('test_cfg') or {}).get('crf') is not None:
        # the dense CRF reads the image files, which demo inputs lack
        cfg.model.test_cfg.crf = None
    model = MODELS.build(cfg.model)
    if type(model).__name__ == 'RelabelSegmentor':
        # a test-time wrapper (tests/test_tools/test_relabel_tool.py):
        # the segmentor it wraps trains and predicts
        model = model.module
    n_cls = _num_classes(model)
    is_cam = hasattr(model, 'cam_head')
    # the refiners (AffinityNet, IRNet) refine CAMs
    is_aff = hasattr(model, 'aff_head') or hasattr(model, 'boundary_head')
    # SPML: partial labels and region maps; its masks are those of a refiner
    is_spml = hasattr(model, 'embedding_head')
    size = 64 if is_cam or is_aff else cfg.crop_size[0]
    data = demo_wsss_inputs(2, (3, size, size), num_classes=n_cls)
    if is_spml:
        for ds in data['data_samples']:
            weak = ds.gt_sem_seg.data.clone()
            weak[:, :size // 4] = 254  # unlabelled rows
            ds.gt_weak_seg = PixelData(data=weak)
            ds.gt_region_map = PixelData(
                data=(torch.arange(size * size) // (size * size // 8)).
                reshape(1, size, size).int())
    if is_cam and type(model.cam_head).__name__ == 'EPSHead':
        for ds in data['data_samples']:  # EPS needs saliency maps
            ds.gt_saliency = PixelData(data=torch.rand(1, size, size))
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode='loss')
    key = 'loss_cls' if is_cam else 'loss_aff' if is_aff else \
        'loss_spml_sem_occ' if is_spml else 'decode.loss_ce'
    if is_spml and model.train_stage == 'classifier':  # SPML's round 2
        key = 'loss_spml_cls'
        assert set(losses) == {key}
    assert torch.isfinite(losses[key])
    if is_cam and type(model.cam_head).__name__ == 'EPSHead':
        assert torch.isfinite(losses['loss_sal'])
    model.eval()
    data = demo_wsss_inputs(1, (3, 64, 64), num_classes=n_cls)
    if is_aff or is_spml and model.test_cfg['seed'] == 'cams':
        # the refiner refines CAMs: those of the image's classes
        ds = data['data_samples'][0]
        labels = torch.tensor(ds.metainfo['img_labels'])
        ds.set_data(dict(cams=torch.rand(len(labels), 64, 64),
                         cam_labels=labels))
    batch = model.data_preprocessor(data, training=False)
    if type(model).__name__ == 'ClassPatternSegmentor':
        # the fitting pass's outputs, then masks from patterns of the
        # right size
        out = model.pattern_pass(**batch)[0]
        d = out.features.shape[0]
        assert out.pattern_cams.shape[1:] == out.features.shape[1:]
        path = osp.join(str(tmp_path), 'class_patterns.pth')
        torch.save(
            dict(mean=torch.zeros(n_cls - 1, d),
                 pattern=torch.nn.functional.normalize(
                     torch.randn(n_cls - 1, d), dim=1),
                 meta=dict(feature_layer=model.feature_layer)), path)
        model.test_cfg['class_patterns'] = path
        out = model(**batch, mode='predict')[0]
        assert np.isin(out.pred_sem_seg.data.unique().numpy(),
                       [0, 255] + out.cam_labels.tolist()).all()
        return
    out = model(**batch, mode='predict')[0]
    assert out.pred_sem_seg.data.shape == (1, 64, 64)
    if is_cam or is_aff or is_spml:
        assert np.isin(out.pred_sem_seg.data.unique().numpy(),
                       [0] + out.cam_labels.tolist()).all()
    else:
        assert out.seg_logits.data.shape == (n_cls, 64, 64)


@pytest.mark.parametrize('path', PIPELINES, ids=osp.basename)
def test_pipeline_configs_resolve(path):
    """Every pipeline config is a valid graph (load_pipeline_config checks
    it) that starts with a training (after data-making stages such as
    SPML's over-segmentation and the points derived from masks), reports results, and names stage configs
    that exist and parse."""
    from mmwsss.apis.pipeline import load_pipeline_config
    cfg = load_pipeline_config(path)
    data_kinds = ('oversegment', 'points_boxes')
    kinds = [s['kind'] for s in cfg.stages if s['kind'] not in data_kinds]
    assert kinds[0] == 'train'
    assert any(s['report'] for s in cfg.stages)
    for stage in cfg.stages:
        # a config that test_config_builds builds
        assert osp.normpath(stage['config']) in CONFIGS, stage['config']


BENCHMARK_GRAPHS = sorted(
    glob.glob(osp.join(REPO_ROOT, 'benchmarks', 'configs', '*.py')))


@pytest.mark.parametrize('path', BENCHMARK_GRAPHS, ids=osp.basename)
def test_benchmark_graphs_resolve(path):
    """The benchmarks' pipeline configs (run by benchmarks/seed_runs.py)
    are valid graphs whose stages name shipped configs, and every stage's
    ``cfg_options`` applies to its config (as the runner merges them)."""
    from mmwsss.apis.pipeline import load_pipeline_config
    from mmwsss.apis.pipeline.runner import stage_config
    cfg = load_pipeline_config(path)
    assert any(s['report'] for s in cfg.stages)
    for stage in cfg.stages:
        assert osp.normpath(stage['config']) in CONFIGS, stage['config']
        options = stage.get('cfg_options') or {}
        base = Config.fromfile(stage['config'])
        for key in options:
            # the option's parent exists in the stage config (a misspelt
            # key would be added silently by the merge)
            node = base
            for part in key.split('.')[:-1]:
                node = node[int(part)] if part.isdigit() else node[part]
            assert isinstance(node, (dict, list)), (stage['name'], key)
        if options:
            stage_config(stage['config'], options)  # the merge applies


@pytest.mark.parametrize(
    'folder',
    sorted({osp.dirname(p)
            for p in CONFIGS}),
    ids=osp.basename)
def test_method_folder_has_readme_and_metafile(folder):
    """Every method folder has a README and a metafile whose Models are
    exactly the folder's configs, each pointing at its own file."""
    import yaml
    assert osp.isfile(osp.join(folder, 'README.md'))
    meta = yaml.safe_load(open(osp.join(folder, 'metafile.yml')))
    (collection, ) = meta['Collections']
    configs = {
        osp.splitext(osp.basename(p))[0]: osp.relpath(p, REPO_ROOT)
        for p in CONFIGS if osp.dirname(p) == folder
    }
    models = {m['Name']: m for m in meta['Models']}
    assert len(models) == len(meta['Models']), 'a model is listed twice'
    assert set(models) == set(configs)
    for name, model in models.items():
        assert model['Config'] == configs[name]
        assert model['In Collection'] == collection['Name']
