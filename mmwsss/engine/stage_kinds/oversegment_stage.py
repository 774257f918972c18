# Copyright (c) OpenMMLab. All rights reserved.
"""The ``oversegment`` pipeline stage kind: SPML's region maps.

SPML (Ke et al., ICLR 2021) reads a low-level over-segmentation of every
training image (``LoadRegionMap``, ``data_prefix.region_path``). A stage of
this kind writes it with ``tools/dataset_converters/oversegment.py`` for the
images of its config's dataset split, into ``<stage>/regions``::

    dict(name='regions', kind='oversegment', config='embedding',
         split='train', algorithm='felzenszwalb', params=dict(min_size=20))

and a later stage reads it::

    inputs={'train_dataloader.dataset.data_prefix.region_path':
            'regions.regions'}

Settings (all in the stage's signature, so a finished stage is reused only
with the same ones):

- ``split``: the dataloader whose dataset lists the images (``'train'``,
  ``'val'`` or ``'test'``; default ``'train'``);
- ``algorithm``: ``'felzenszwalb'`` (default) or ``'slic'``;
- ``params``: parameters overriding the algorithm's defaults
  (:data:`~mmwsss.utils.oversegment.OVERSEGMENT_DEFAULTS`), e.g.
  ``dict(min_size=20)``; default None.

Resumable: the tool skips the maps that exist, so a rerun of an interrupted
stage computes only the missing ones. With the runner's ``in_process`` the
tool's ``main`` runs in the runner's process (``ctx.run_tool``); with
``nproc > 1`` it runs once, in one process with ``nproc`` worker processes
(it is not a distributed tool). The tool reads
``<stage>/oversegment_source.py``: the stage config with the runner's
``data_root`` applied (as ``--data-root`` does for the train and test
tools) and the split's file checks off (the region maps it writes are
among the files the dataset would check). Outputs: ``regions`` (the folder of PNGs) and
``work_dir``; metrics: ``num_region_maps`` and, when this run computed
maps, ``mean_regions`` (regions per image) and ``ms_per_image``.
"""
import os.path as osp

from mmwsss.apis.pipeline.stages import STAGE_KINDS, PipelineError, StageKind

__all__ = ['OversegmentStage']

#: The tool, under ``tools/``.
TOOL = 'dataset_converters/oversegment.py'
#: The tool's provenance file in its output folder.
META_FILE = 'oversegment_meta.json'


@STAGE_KINDS.register_module()
class OversegmentStage(StageKind):
    """``tools/dataset_converters/oversegment.py`` on a config's split."""

    name = 'oversegment'
    settings = dict(split='train', algorithm='felzenszwalb', params=None)
    outputs = ('regions', 'work_dir')

    @classmethod
    def check(cls, stage, where):
        from mmwsss.utils.oversegment import OVERSEGMENT_DEFAULTS
        if stage['split'] not in ('train', 'val', 'test'):
            raise PipelineError(f"{where}.split must be 'train', 'val' or "
                                f"'test', got {stage['split']!r}")
        algorithm = stage['algorithm']
        if algorithm not in OVERSEGMENT_DEFAULTS:
            raise PipelineError(
                f'{where}.algorithm must be one of '
                f'{sorted(OVERSEGMENT_DEFAULTS)}, got {algorithm!r}')
        params = stage['params']
        if params is None:
            return
        if not isinstance(params, dict):
            raise PipelineError(f'{where}.params must be a dict or None, '
                                f'got {params!r}')
        unknown = set(params) - set(OVERSEGMENT_DEFAULTS[algorithm])
        if unknown:
            raise PipelineError(
                f'{where}.params: {algorithm} does not take '
                f'{sorted(unknown)}; it takes '
                f'{sorted(OVERSEGMENT_DEFAULTS[algorithm])}')
        for key, value in params.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise PipelineError(
                    f'{where}.params.{key} must be a number, got {value!r}')

    @classmethod
    def tool_args(cls, stage: dict, source: str, out_dir: str,
                  workers: int = 1) -> list:
        """The tool's command line (after the script) for ``stage``."""
        argv = [
            source, out_dir, '--split', stage['split'], '--algorithm',
            stage['algorithm']
        ]
        for key, value in sorted((stage['params'] or {}).items()):
            argv += ['--' + key.replace('_', '-'), str(value)]
        return argv + ['--workers', str(workers)]

    @classmethod
    def source_config(cls, ctx, stage: dict, stage_dir: str,
                      stage_config: str) -> str:
        """The config the tool lists the images of: the stage config with
        the runner's ``data_root`` (as ``--data-root`` does for the train
        and test tools) and ``check_files=False`` on the split's mmwsss
        datasets (the tool only lists the images; the per-image files of
        the other ``data_prefix`` keys, e.g. the region maps this stage
        writes, need not exist yet)."""
        from mmengine.config import Config
        from mmseg.registry import DATASETS

        from mmwsss.apis.tools_utils import set_data_root
        from mmwsss.datasets.base_wsss import BaseWSSSDataset
        cfg = Config.fromfile(stage_config)
        if ctx.data_root:
            set_data_root(cfg, ctx.data_root)
        dataset = (cfg.get(f"{stage['split']}_dataloader") or {}).get(
            'dataset')
        while isinstance(dataset, dict):  # and the wrapped ones
            ds_type = dataset.get('type')
            if isinstance(ds_type, str):
                ds_type = DATASETS.get(ds_type)
            if isinstance(ds_type, type) and issubclass(
                    ds_type, BaseWSSSDataset):
                dataset['check_files'] = False
            dataset = dataset.get('dataset')
        source = osp.join(stage_dir, 'oversegment_source.py')
        cfg.dump(source)
        return source

    @classmethod
    def run(cls, ctx, stage, stage_dir, args, stage_config, seed):
        source = cls.source_config(ctx, stage, stage_dir, stage_config)
        regions = osp.join(stage_dir, 'regions')
        argv = cls.tool_args(stage, source, regions, workers=ctx.nproc)
        if ctx.nproc > 1 and not ctx.in_process:
            # one process (its own workers), not a distributed launch
            from mmwsss.apis.in_process import REPO_ROOT
            ctx.run_process(stage['name'], [
                ctx.python, osp.join(REPO_ROOT, 'tools', TOOL), *argv
            ], stage_dir)
        else:
            ctx.run_tool(stage['name'], TOOL, argv, stage_dir)
        meta = ctx.read_json(osp.join(regions, META_FILE)) or {}
        if not meta.get('complete') or meta.get('count') != meta.get(
                'num_images'):
            raise PipelineError(
                f"stage `{stage['name']}`: {regions} is incomplete "
                f"({meta.get('count')} of {meta.get('num_images')} region "
                f'maps); see {osp.join(stage_dir, "stage.log")}')
        metrics = dict(num_region_maps=meta['count'])
        if meta.get('regions_this_run'):
            metrics['mean_regions'] = meta['regions_this_run']['mean']
            metrics['ms_per_image'] = meta['mean_ms_per_image_this_run']
        return dict(
            outputs=dict(regions=regions, work_dir=stage_dir),
            metrics=metrics)
