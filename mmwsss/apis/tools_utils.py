# Copyright (c) OpenMMLab. All rights reserved.
"""What ``tools/train.py`` and ``tools/test.py`` add to mmseg's versions."""
import copy
import json
import os
from typing import List, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config

__all__ = [
    'apply_common_args', 'configure_pattern_pass', 'configure_relabel',
    'configure_seg_crf', 'load_tool_config', 'set_data_root',
    'setup_distributed', 'single_scale_tta_pipeline', 'write_metrics_json'
]


def set_data_root(cfg: Config, data_root: str) -> int:
    """Point every dataset of the train/val/test dataloaders at ``data_root``.

    Wrapped datasets (``dataset=...``, ``datasets=[...]``) are followed.

    Args:
        cfg (Config): The config, changed in place.
        data_root (str): The new data root.

    Returns:
        int: How many dataset configs were changed.
    """
    count = 0

    def visit(ds) -> None:
        nonlocal count
        if not isinstance(ds, dict):
            return
        if 'data_root' in ds or 'dataset' not in ds and 'datasets' not in ds:
            ds['data_root'] = data_root
            count += 1
        if isinstance(ds.get('dataset'), dict):
            visit(ds['dataset'])
        for sub in ds.get('datasets', []) or []:
            visit(sub)

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader:
            visit(loader.get('dataset'))
    if count == 0:
        raise ValueError('--data-root: the config has no dataloader dataset '
                         'with a data_root to set')
    return count


def load_tool_config(args) -> Config:
    """The config of ``tools/{train,test,extract_class_patterns}.py``.

    Reads ``args.config``, sets ``launcher``, merges ``--cfg-options`` and
    resolves ``work_dir`` (``--work-dir`` > the config's >
    ``./work_dirs/<config name>``), as mmseg's tools do.
    """
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = os.path.join(
            './work_dirs',
            os.path.splitext(os.path.basename(args.config))[0])
    return cfg


def write_metrics_json(path: Optional[str], metrics: dict) -> None:
    """``--metrics-json``: the returned metrics, atomically, on rank 0."""
    if not path:
        return
    from mmengine.dist import is_main_process

    from mmwsss.engine.hooks import metrics_to_jsonable
    from mmwsss.utils import atomic_write_bytes
    if is_main_process():
        atomic_write_bytes(
            path,
            json.dumps(metrics_to_jsonable(metrics), indent=2).encode())


def apply_common_args(cfg: Config,
                      data_root: Optional[str] = None,
                      seed: Optional[int] = None) -> None:
    """Apply ``--data-root`` and ``--seed`` to a config in place."""
    if data_root is not None:
        if not os.path.isdir(data_root):
            raise FileNotFoundError(f'--data-root {data_root} is not a '
                                    'directory')
        set_data_root(cfg, data_root)
    if seed is not None:
        randomness = dict(cfg.get('randomness') or {})
        randomness['seed'] = seed
        cfg.randomness = randomness


def setup_distributed(cfg: Config) -> None:
    """Make ``--launcher pytorch`` work on machines without a GPU.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device``
    unconditionally, which fails without an NVIDIA driver, and its default
    DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which is for GPU
    modules. On a CPU-only machine this initialises the gloo process group
    from the ``torchrun`` environment before the Runner is built (the
    Runner then skips its own initialisation) and configures the wrapper
    with ``device_ids=None``. With a GPU nothing changes.

    Args:
        cfg (Config): The config (its ``launcher`` set), changed in place.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise NotImplementedError(
            f'--launcher {launcher} without a GPU is not supported; use '
            '--launcher pytorch (tools/dist_train.sh) on CPU')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def single_scale_tta_pipeline(test_pipeline: List[dict]) -> List[dict]:
    """Turn a test pipeline into a one-view ``TestTimeAug`` pipeline.

    ``[Load, step_1, ..., step_n, Pack]`` becomes
    ``[Load, TestTimeAug(transforms=[[step_1], ..., [step_n], [Pack]])]``:
    the same single prediction, in the list-of-views form that a TTA model
    (here: :class:`~mmwsss.models.CRFSegTTAModel`) takes.

    Args:
        test_pipeline (list[dict]): A test pipeline whose first transform
            loads the image.

    Returns:
        list[dict]: The equivalent TTA pipeline.
    """
    steps = [dict(t) for t in test_pipeline]
    if not steps or 'Load' not in str(steps[0].get('type', '')):
        raise ValueError('single_scale_tta_pipeline: the test pipeline must '
                         'start with an image-loading transform, got '
                         f'{steps[:1]}')
    return [
        steps[0],
        dict(type='TestTimeAug', transforms=[[t] for t in steps[1:]])
    ]


def configure_seg_crf(cfg: Config, crf: str, tta: bool) -> bool:
    """Switch the dense CRF on the final predictions of a segmentor.

    Sets ``cfg.tta_model`` to a :class:`~mmwsss.models.CRFSegTTAModel` with
    ``crf`` (``'none'`` switches it off), keeping its other keys. With
    ``tta`` the config's ``tta_pipeline`` (multi-scale + flip) is used;
    without, a single-scale pipeline is derived from the test pipeline, so
    that ``--crf`` works on its own.

    Args:
        cfg (Config): The test config, changed in place.
        crf (str): A :class:`~mmwsss.models.DenseCRF` preset or ``'none'``.
        tta (bool): Whether ``--tta`` was given.

    Returns:
        bool: Whether the test must run through the TTA model.
    """
    off = crf.lower() == 'none'
    if off and not tta:
        return False
    tta_model = dict(cfg.get('tta_model') or {})
    if tta_model.get('type') not in (None, 'SegTTAModel', 'CRFSegTTAModel',
                                     'mmseg.SegTTAModel',
                                     'mmseg.CRFSegTTAModel'):
        raise ValueError(f'--crf: tta_model type {tta_model["type"]!r} '
                         'is not a SegTTAModel')
    tta_model['type'] = 'CRFSegTTAModel'
    tta_model['crf'] = None if off else crf
    cfg.tta_model = tta_model
    if not tta:
        cfg.tta_pipeline = single_scale_tta_pipeline(
            cfg.test_dataloader.dataset.pipeline)
    elif cfg.get('tta_pipeline') is None:
        raise ValueError('--tta: the config has no tta_pipeline')
    return True


_ANN_LOADERS = ('LoadAnnotations', 'LoadWSSSAnnotations')


def _leaves(ds) -> List[dict]:
    """The leaf dataset configs of a (possibly wrapped) dataset config."""
    if not isinstance(ds, dict):
        return []
    if isinstance(ds.get('dataset'), dict):
        return _leaves(ds['dataset'])
    if ds.get('datasets'):
        return [leaf for sub in ds['datasets'] for leaf in _leaves(sub)]
    return [ds]


def _set_pipelines(ds, pipeline: List[dict]) -> None:
    """Replace every ``pipeline`` of a dataset config and its wrappees."""
    if not isinstance(ds, dict):
        return
    if 'pipeline' in ds or ('dataset' not in ds and 'datasets' not in ds):
        ds['pipeline'] = copy.deepcopy(pipeline)
    _set_pipelines(ds.get('dataset'), pipeline)
    for sub in ds.get('datasets', []) or []:
        _set_pipelines(sub, pipeline)


def _without_annotations(pipeline: List[dict]) -> List[dict]:
    """Drop mask-loading transforms (also inside ``TestTimeAug``)."""

    def is_ann(t) -> bool:
        name = str(t.get('type', '')).split('.')[-1]
        return name in _ANN_LOADERS

    out = []
    for t in pipeline:
        if is_ann(t):
            continue
        t = copy.deepcopy(t)
        if isinstance(t.get('transforms'), list):
            views = [[v for v in view if not is_ann(v)]
                     for view in t['transforms']]
            t['transforms'] = [view for view in views if view]
        out.append(t)
    return out


def configure_relabel(cfg: Config, prev_mask_dir: str, fill: str,
                      output_dir: str) -> None:
    """Turn a segmentation test config into the relabel pass of a round.

    The retraining step of Luo & Yang (AAAI 2020) predicts the **train**
    split with the segmentation model trained on the pseudo masks and fills
    their uncertain pixels (:class:`~mmwsss.evaluation.RelabelMetric`).
    This changes ``cfg`` in place so that ``tools/test.py`` does exactly
    that:

    - ``test_dataloader.dataset`` becomes a deep copy of
      ``train_dataloader.dataset`` in which every ``pipeline`` (through
      wrappers such as ``ConcatDataset``/``RepeatDataset``) is the test
      pipeline, ``pseudo_mask_dir`` is removed (the ground-truth masks
      score the filled ones) and ``label_source`` is ``'none'`` (no image
      labels are needed). A train dataset without a ground-truth folder
      (``data_prefix.seg_map_path``) takes the test dataset's; when neither
      has one, the masks are only written (``format_only``, no mIoU) and
      the pipeline loads no annotations. To score against another folder
      (e.g. VOC's ``SegmentationClassAug`` for ``train_aug``), set
      ``train_dataloader.dataset.data_prefix.seg_map_path`` before calling
      this (``--cfg-options`` of ``tools/test.py`` are applied first);
    - batch size 1, the test dataloader's sampler without shuffling;
    - ``test_evaluator`` is a ``RelabelMetric(prev_mask_dir, fill,
      output_dir)``;
    - a plain ``TestLoop`` becomes a
      :class:`~mmwsss.engine.ResumableTestLoop`, so a killed pass resumes.

    Args:
        cfg (Config): A segmentation config, changed in place.
        prev_mask_dir (str): The pseudo masks the model was trained on.
        fill (str): ``'uncertain'`` or ``'all'`` (see ``RelabelMetric``).
        output_dir (str): Where the filled masks go.
    """
    if fill not in ('uncertain', 'all'):
        raise ValueError(f"--fill must be 'uncertain' or 'all', got {fill!r}")
    if not prev_mask_dir or not os.path.isdir(prev_mask_dir):
        raise FileNotFoundError(f'--relabel {prev_mask_dir} is not a '
                                'directory of pseudo masks')
    train_loader = cfg.get('train_dataloader')
    if not train_loader or not train_loader.get('dataset'):
        raise ValueError('--relabel: the config has no train_dataloader '
                         'dataset to relabel')
    test_loader = copy.deepcopy(cfg.test_dataloader)  # may alias val's
    test_leaves = _leaves(test_loader.get('dataset'))
    test_pipeline = next((leaf['pipeline'] for leaf in test_leaves
                          if leaf.get('pipeline')), None)
    if test_pipeline is None:
        raise ValueError('--relabel: the test dataset has no pipeline')
    gt_folder = next(
        (leaf['data_prefix']['seg_map_path'] for leaf in test_leaves
         if (leaf.get('data_prefix') or {}).get('seg_map_path')), None)

    dataset = copy.deepcopy(train_loader['dataset'])
    scored = True
    for leaf in _leaves(dataset):
        leaf.pop('pseudo_mask_dir', None)
        if leaf.get('subset_fraction') is None and (
                'label_source' in leaf or 'cls_label_file' in leaf):
            leaf['label_source'] = 'none'
        prefix = dict(leaf.get('data_prefix') or {})
        if not prefix.get('seg_map_path'):
            if gt_folder:
                prefix['seg_map_path'] = gt_folder
                leaf['data_prefix'] = prefix
            else:
                scored = False
    if not scored:
        test_pipeline = _without_annotations(test_pipeline)
    _set_pipelines(dataset, test_pipeline)
    test_loader['dataset'] = dataset
    test_loader['batch_size'] = 1
    sampler = dict(
        test_loader.get('sampler') or dict(type='DefaultSampler'))
    sampler['shuffle'] = False
    test_loader['sampler'] = sampler
    cfg.test_dataloader = test_loader
    cfg.test_evaluator = dict(
        type='RelabelMetric',
        prev_mask_dir=prev_mask_dir,
        fill=fill,
        output_dir=output_dir,
        format_only=not scored)
    test_cfg = dict(cfg.get('test_cfg') or {})
    if test_cfg.get('type', 'TestLoop') in ('TestLoop', 'mmengine.TestLoop'):
        test_cfg['type'] = 'ResumableTestLoop'
    cfg.test_cfg = test_cfg


def configure_pattern_pass(cfg: Config, out_dir: str) -> Config:
    """Turn a ``ClassPatternSegmentor`` config into its pattern pass.

    ``tools/extract_class_patterns.py`` (Luo & Yang, AAAI 2020): the model
    runs in pattern-pass mode (``test_cfg.class_patterns=None``), the test
    dataloader is the config's ``pattern_dataloader`` (when it has one) and
    the evaluator its ``pattern_evaluator`` (default ``ClassPatternMetric``)
    writing to ``out_dir``. ``DefaultSampler``'s ``round_up`` is turned
    off: it pads the shards of a distributed run with repeated images,
    which the summed statistics would count twice.

    Args:
        cfg (Config): The config (modified in place).
        out_dir (str): Folder of ``class_patterns.pth``.

    Returns:
        Config: ``cfg``.
    """
    if cfg.model.get('type') not in ('ClassPatternSegmentor',
                                     'mmseg.ClassPatternSegmentor'):
        raise ValueError(
            f'{cfg.filename}: model.type must be ClassPatternSegmentor for '
            f'the class-pattern pass, got {cfg.model.get("type")!r}')
    cfg.model.setdefault('test_cfg', {})
    cfg.model.test_cfg['class_patterns'] = None
    if cfg.get('pattern_dataloader') is not None:
        cfg.test_dataloader = cfg.pattern_dataloader
    sampler = cfg.test_dataloader.get('sampler') or dict(
        type='DefaultSampler', shuffle=False)
    if sampler.get('type') in ('DefaultSampler', 'mmengine.DefaultSampler'):
        sampler['round_up'] = False
    cfg.test_dataloader['sampler'] = sampler
    evaluator = dict(
        cfg.get('pattern_evaluator') or dict(type='ClassPatternMetric'))
    evaluator['output_dir'] = out_dir
    cfg.test_evaluator = evaluator
    return cfg
