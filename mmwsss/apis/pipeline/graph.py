# Copyright (c) OpenMMLab. All rights reserved.
"""Reading and checking a pipeline config: a list of stages and their links.

A pipeline config is an mmengine config file with a ``stages`` list::

    stages = [
        dict(name='classifier', kind='train',
             config='../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py',
             report=dict(classifier_mAP=dict(
                 metric='multi-label/mAP', label='classifier mAP (val)'))),
        dict(name='pseudo_masks', kind='test', out=True,
             config='../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py',
             inputs=dict(checkpoint='classifier.checkpoint'),
             report=dict(cam_mIoU=dict(metric='mIoU',
                                       label='CAM pseudo-mask mIoU'))),
        dict(name='segmentation', kind='train',
             config='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py',
             inputs={'train_dataloader.dataset.data_prefix.seg_map_path':
                     'pseudo_masks.masks'}),
        ...
    ]
    seed = 0          # first seed
    repeat = 1        # seeds seed, seed + 1, ...
    nproc = 1         # processes per stage
    data_root = None  # data root of every stage (None: the stage configs')
    # the summary picture of each seed (None: none), see
    # mmwsss/apis/pipeline/summary.py
    summary = dict(num_images=6, seed=0, height=96)

Every stage has

- ``name``: unique, also its folder ``<work_dir>/seed_<s>/<name>/``;
- ``kind``: a registered stage kind (:data:`STAGE_KINDS`; ``train`` and
  ``test`` are built in);
- ``config``: the stage's mmengine config, relative to the pipeline config's
  folder unless absolute;
- ``inputs`` (optional): ``{key: '<stage>.<output>'}``: an output of an
  earlier stage given to this one. A key is a config key (dotted, e.g.
  ``train_dataloader.dataset.data_prefix.seg_map_path``) or an argument
  the kind takes itself (``checkpoint`` for ``test``);
- ``cfg_options`` (optional): more config overrides, as ``--cfg-options``;
- ``report`` (optional): ``{result key: metric name}`` or ``{result key:
  dict(metric=..., label=...)}``: metrics of this stage that go into
  ``results.json`` under the result key and into the printed table under
  the label (default: the key);
- the kind's own settings (``tta`` and ``out`` for ``test``).

The runner knows no method: the chain of a method (classifier -> pseudo
masks -> refinement -> segmentation ...) is entirely in its pipeline config.

Pipeline configs inherit like any mmengine config. For that, ``stages`` may
also be a dict keyed by stage name (the key is the stage's ``name``), which
a config with ``_base_`` updates key by key (mmengine merges dicts, while it
replaces lists); a stage set to ``None`` is removed. A stage's ``config``
may name a key of the top-level ``configs`` dict instead of a file, so that
a method's graph is written once (``configs/pipelines/_base_/``) and each
data set's pipeline only names its stage configs::

    _base_ = ['./_base_/cam-deeplabv2.py']
    configs = dict(
        classifier='../cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py',
        segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-1k_msrc21-128x128.py')
    stages = dict(refinement=None)   # no CRF stage on this data

Relative paths in ``configs`` are relative to the pipeline config that is
run. Stages run in a stable topological order: the order they are written
in, except that a stage comes after every stage it takes inputs from (so a
config that inherits a graph can add a stage that earlier ones read).
"""
import copy
import os.path as osp
from typing import Dict, List, Optional

from mmengine.config import Config

from .stages import STAGE_KINDS, PipelineError

__all__ = ['load_pipeline_config', 'check_stages']

_COMMON_KEYS = ('name', 'kind', 'config', 'inputs', 'cfg_options', 'report')
_TOP_KEYS = ('stages', 'configs', 'seed', 'repeat', 'nproc', 'data_root',
             'work_dir', 'summary')


def _resolve(path: str, base: str) -> str:
    return path if osp.isabs(path) else osp.normpath(osp.join(base, path))


def _check_config(where: str,
                  value,
                  base: str,
                  aliases: Optional[Dict[str, str]] = None,
                  readable: Optional[set] = None) -> str:
    """The absolute path of a stage's config; it must exist and parse.

    ``readable`` holds the paths already parsed by this check (a config that
    several stages name is read once).
    """
    if not isinstance(value, str) or not value:
        raise PipelineError(f'{where}.config must be a config path or a key '
                            f'of `configs`, got {value!r}')
    if aliases and value in aliases:
        alias, value = value, aliases[value]
        where = f'{where}.config `{alias}` (configs.{alias})'
        if not isinstance(value, str) or not value:
            raise PipelineError(f'{where} must be a config path, got '
                                f'{value!r}')
    path = _resolve(value, base)
    if not osp.isfile(path):
        raise PipelineError(
            f'{where}.config {value} does not exist (resolved to {path}) and '
            f'is not a key of `configs` (keys: '
            f'{", ".join(sorted(aliases or {})) or "none"})')
    if readable is not None and path in readable:
        return path
    try:
        Config.fromfile(path)
    except Exception as e:  # syntax errors, missing _base_ files...
        raise PipelineError(f'{where}.config {path} cannot be read: '
                            f'{e}') from e
    if readable is not None:
        readable.add(path)
    return path


def _check_report(where: str, report) -> Dict[str, Dict[str, str]]:
    if report is None:
        return {}
    if not isinstance(report, dict):
        raise PipelineError(f'{where}.report must be a dict of result key '
                            f'-> metric name, got {type(report).__name__}')
    out = {}
    for key, value in report.items():
        if isinstance(value, str):
            value = dict(metric=value, label=key)
        if not isinstance(value, dict) or not isinstance(
                value.get('metric'), str):
            raise PipelineError(
                f'{where}.report.{key} must be a metric name or '
                f'dict(metric=..., label=...), got {value!r}')
        unknown = set(value) - {'metric', 'label'}
        if unknown:
            raise PipelineError(f'{where}.report.{key}: unknown key(s) '
                                f'{sorted(unknown)} (known: metric, label)')
        out[str(key)] = dict(
            metric=value['metric'], label=str(value.get('label', key)))
    return out


def _stage_list(stages, path: str) -> List[dict]:
    """``stages`` as a list of stage dicts (dict form: key = name)."""
    if isinstance(stages, dict):
        out = []
        for name, stage in stages.items():
            if stage is None:  # removed by an inheriting config
                continue
            if not isinstance(stage, dict):
                raise PipelineError(
                    f'pipeline config {path}: stages.{name} must be a dict '
                    f'or None, got {type(stage).__name__}')
            if stage.get('name', name) != name:
                raise PipelineError(
                    f'pipeline config {path}: stages.{name} has name '
                    f"{stage['name']!r}; in the dict form the key is the name")
            out.append(dict(stage, name=name))
        stages = out
    if not isinstance(stages, (list, tuple)) or not stages:
        raise PipelineError(f'pipeline config {path}: `stages` must be a '
                            'non-empty list of stage dicts (or a dict of '
                            'them keyed by name)')
    return list(stages)


def _in_order(stages: List[dict], path: str) -> List[dict]:
    """A stable topological order: as written, readers after their sources.

    A stage whose inputs name stages that are not yet placed waits; the
    first waiting stage whose sources are all placed goes next. Inputs that
    name no stage of the pipeline are left for :func:`check_stages` to
    report.
    """
    names = {s.get('name') for s in stages if isinstance(s, dict)}

    def sources(stage):
        inputs = stage.get('inputs') if isinstance(stage, dict) else None
        if not isinstance(inputs, dict):
            return set()
        return {
            ref.split('.')[0]
            for ref in inputs.values()
            if isinstance(ref, str) and ref.split('.')[0] in names
        } - {stage.get('name')}

    placed, order, waiting = set(), [], list(stages)
    while waiting:
        for i, stage in enumerate(waiting):
            if sources(stage) <= placed:
                order.append(waiting.pop(i))
                placed.add(stage.get('name') if isinstance(stage, dict)
                           else None)
                break
        else:
            cycle = ', '.join(f"`{s.get('name')}`" for s in waiting)
            raise PipelineError(f'pipeline config {path}: the inputs of '
                                f'stages {cycle} form a cycle')
    return order


def check_stages(stages,
                 path: str,
                 base: str,
                 configs: Optional[Dict[str, str]] = None) -> List[dict]:
    """Check the ``stages`` of a pipeline config and put them in order.

    Args:
        stages: The config's ``stages`` value: a list of stage dicts, or a
            dict of them keyed by stage name (``None`` values are removed).
        path (str): The pipeline config file (for messages).
        base (str): The folder stage configs are relative to.
        configs (dict, optional): The config's ``configs``: names a stage's
            ``config`` may use instead of a file.

    Returns:
        list[dict]: The stages in the order they run, config paths
        absolute, kind settings filled with their defaults.

    Raises:
        PipelineError: Naming the stage and the key at fault.
    """
    if configs is not None and not isinstance(configs, dict):
        raise PipelineError(f'pipeline config {path}: `configs` must be a '
                            f'dict of name -> config path, got '
                            f'{type(configs).__name__}')
    stages = _in_order(_stage_list(stages, path), path)
    out: List[dict] = []
    readable: set = set()
    outputs: Dict[str, tuple] = {}
    report_keys: Dict[str, str] = {}
    for i, raw in enumerate(stages):
        where = f'pipeline config {path}: stages[{i}]'
        if not isinstance(raw, dict):
            raise PipelineError(f'{where} must be a dict, got '
                                f'{type(raw).__name__}')
        stage = copy.deepcopy(dict(raw))
        name = stage.get('name')
        if not isinstance(name, str) or not name or '/' in name or \
                name.startswith('.') or '.' in name:
            raise PipelineError(f'{where}.name must be a folder name without '
                                f"'.' or '/', got {name!r}")
        where = f'pipeline config {path}: stage `{name}`'
        if name in outputs:
            raise PipelineError(f'{where}: the name is used twice')
        kind_name = stage.get('kind')
        if kind_name not in STAGE_KINDS:
            raise PipelineError(
                f'{where}: unknown kind {kind_name!r} (registered: '
                f'{", ".join(sorted(STAGE_KINDS.module_dict))})')
        kind = STAGE_KINDS.get(kind_name)
        unknown = set(stage) - set(_COMMON_KEYS) - set(kind.settings)
        if unknown:
            raise PipelineError(
                f'{where}: unknown key(s) {sorted(unknown)} (known: '
                f'{", ".join(list(_COMMON_KEYS) + list(kind.settings))})')
        stage['config'] = _check_config(where, stage.get('config'), base,
                                        configs, readable)
        for key, default in kind.settings.items():
            stage.setdefault(key, default)
        options = stage.get('cfg_options') or {}
        if not isinstance(options, dict):
            raise PipelineError(f'{where}.cfg_options must be a dict, got '
                                f'{type(options).__name__}')
        stage['cfg_options'] = dict(options)
        inputs = stage.get('inputs') or {}
        if not isinstance(inputs, dict):
            raise PipelineError(f'{where}.inputs must be a dict, got '
                                f'{type(inputs).__name__}')
        for key, ref in inputs.items():
            if not isinstance(ref, str) or ref.count('.') != 1:
                raise PipelineError(
                    f'{where}.inputs.{key} must be "<stage>.<output>", got '
                    f'{ref!r}')
            src, output = ref.split('.')
            if src not in outputs:
                raise PipelineError(
                    f'{where}.inputs.{key}: {ref} names stage `{src}`, '
                    'which is not a stage of this pipeline (stages before '
                    f'this one: {", ".join(outputs) or "none"})')
            if output not in outputs[src]:
                raise PipelineError(
                    f'{where}.inputs.{key}: stage `{src}` has no output '
                    f'`{output}` (its outputs: {", ".join(outputs[src])})')
        for key in kind.required_inputs:
            if key not in inputs:
                raise PipelineError(
                    f'{where}: a `{kind_name}` stage needs inputs.{key}')
        stage['inputs'] = dict(inputs)
        stage['report'] = _check_report(where, stage.get('report'))
        for key in stage['report']:
            if key in report_keys:
                raise PipelineError(
                    f'{where}.report.{key}: the result key is also reported '
                    f'by stage `{report_keys[key]}`')
            report_keys[key] = name
        kind.check(stage, where)
        outputs[name] = tuple(kind.outputs)
        out.append(stage)
    return out


def load_pipeline_config(path: str,
                         data_root: Optional[str] = None) -> Config:
    """Read and check a pipeline config before anything runs.

    Every stage config it names must exist and parse, every input must name
    an output of an earlier stage, and unknown keys are errors.

    Args:
        path (str): The pipeline config file.
        data_root (str, optional): Overrides the config's ``data_root``.

    Returns:
        Config: The config; ``stages`` is the checked list of stage dicts.

    Raises:
        PipelineError: Naming the key and the file at fault.
    """
    if not osp.isfile(path):
        raise PipelineError(f'pipeline config {path} does not exist')
    cfg = Config.fromfile(path)
    if 'stages' not in cfg:
        raise PipelineError(
            f'pipeline config {path} has no `stages` list; a pipeline is a '
            'list of stages (pipeline configs of earlier releases had one '
            'key per fixed stage; see configs/pipelines/ and '
            'mmwsss/apis/pipeline/graph.py)')
    # names starting with '_' are the config file's own variables
    unknown = {k for k in cfg.keys() if not k.startswith('_')} - set(_TOP_KEYS)
    if unknown:
        raise PipelineError(f'pipeline config {path}: unknown key(s) '
                            f'{sorted(unknown)} (known: {", ".join(_TOP_KEYS)})')
    base = osp.dirname(osp.abspath(path))
    stages = check_stages(cfg.get('stages'), path, base,
                          cfg.get('configs'))
    for key in ('repeat', 'nproc'):
        value = cfg.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise PipelineError(f'pipeline config {path}: {key} must be an '
                                f'int >= 1, got {value!r}')
    seed = cfg.get('seed', 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise PipelineError(f'pipeline config {path}: seed must be an int, '
                            f'got {seed!r}')
    summary = cfg.get('summary', {})
    if summary is not None:
        if not isinstance(summary, dict) or set(summary) - {
                'num_images', 'seed', 'height'}:
            raise PipelineError(
                f'pipeline config {path}: summary must be None or a dict '
                'with the keys num_images, seed, height; got '
                f'{summary!r}')
    if data_root is not None:
        cfg.data_root = data_root
    root = cfg.get('data_root')
    if root is not None:
        if not osp.isdir(root):
            raise PipelineError(f'pipeline config {path}: data_root {root} '
                                'is not a directory')
        cfg.data_root = osp.abspath(root)
    # plain dicts: mmengine's ConfigDict would turn them back into its own
    cfg_dict = {
        k: v
        for k, v in cfg.to_dict().items() if not k.startswith('_')
    }
    cfg_dict['stages'] = stages
    out = Config(cfg_dict, filename=path)
    return out
