# Copyright (c) OpenMMLab. All rights reserved.
"""The ``points_boxes`` pipeline stage kind: point and box labels from masks.

Datasets with masks but no point or box annotations (MSRC-21) get them from
``tools/dataset_converters/masks_to_points_boxes.py`` (one box and
``points`` clicks per connected component, by a seeded rule: see the
tool). A stage of this kind runs the tool on its config's dataset split and
writes ``<stage>/labels/Points`` and ``<stage>/labels/Annotations``::

    dict(name='weak_labels', kind='points_boxes', config='embedding',
         split='train', classes='voc')

and a later stage reads them::

    inputs={'train_dataloader.dataset.data_prefix.point_path':
            'weak_labels.points'}

It writes into the stage folder, never into the dataset (which may be
read-only or shared). Settings (all in the stage's signature):

- ``split``: the dataloader whose dataset gives the data root, the mask
  folder (``data_prefix.seg_map_path``) and the id list (``ann_file``):
  ``'train'`` (default), ``'val'`` or ``'test'``;
- ``classes``: the tool's ``--classes`` (``'voc'`` default, ``'coco'``,
  ``'synthetic'`` or a file of names);
- ``label_seed``: the rule's seed (default 0: the labels are a fixed
  annotation of the dataset, the same for every pipeline seed; ``None``
  draws them with the pipeline's seed);
- ``points`` (default 1), ``min_area`` (default 50), ``connectivity``
  (default 8): the tool's options of those names.

Resumable (the tool skips the images whose two files exist). Outputs:
``points``, ``boxes`` and ``work_dir``; metrics: ``num_images`` and, when
this run computed labels, ``points_per_image`` and ``boxes_per_image``.
"""
import os.path as osp

from mmwsss.apis.pipeline.stages import STAGE_KINDS, PipelineError, StageKind

__all__ = ['PointsBoxesStage']

#: The tool, under ``tools/``.
TOOL = 'dataset_converters/masks_to_points_boxes.py'
#: The tool's provenance file in its output folder.
META_FILE = 'points_boxes_meta.json'


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@STAGE_KINDS.register_module()
class PointsBoxesStage(StageKind):
    """``tools/dataset_converters/masks_to_points_boxes.py`` on a split."""

    name = 'points_boxes'
    settings = dict(
        split='train',
        classes='voc',
        label_seed=0,
        points=1,
        min_area=50,
        connectivity=8)
    outputs = ('points', 'boxes', 'work_dir')

    @classmethod
    def check(cls, stage, where):
        if stage['split'] not in ('train', 'val', 'test'):
            raise PipelineError(f"{where}.split must be 'train', 'val' or "
                                f"'test', got {stage['split']!r}")
        if not isinstance(stage['classes'], str):
            raise PipelineError(f'{where}.classes must be a string, got '
                                f"{stage['classes']!r}")
        seed = stage['label_seed']
        if seed is not None and not _is_int(seed):
            raise PipelineError(
                f'{where}.label_seed must be an int or None, got {seed!r}')
        for key in ('points', 'min_area'):
            if not _is_int(stage[key]) or stage[key] < 1:
                raise PipelineError(
                    f'{where}.{key} must be an int >= 1, got {stage[key]!r}')
        if stage['connectivity'] not in (4, 8):
            raise PipelineError(f'{where}.connectivity must be 4 or 8, got '
                                f"{stage['connectivity']!r}")

    @classmethod
    def dataset_files(cls, ctx, stage: dict, stage_config: str) -> tuple:
        """``(data_root, mask_dir, ann_file)`` of the stage's split, with
        the runner's ``data_root`` applied (as ``--data-root`` does for the
        train and test tools); wrapped datasets are unwrapped."""
        from mmengine.config import Config

        from mmwsss.apis.tools_utils import set_data_root
        cfg = Config.fromfile(stage_config)
        if ctx.data_root:
            set_data_root(cfg, ctx.data_root)
        key = f"{stage['split']}_dataloader"
        dataset = (cfg.get(key) or {}).get('dataset')
        while isinstance(dataset, dict) and 'data_root' not in dataset \
                and isinstance(dataset.get('dataset'), dict):
            dataset = dataset['dataset']
        if not isinstance(dataset, dict) or not dataset.get('data_root'):
            raise PipelineError(
                f"stage `{stage['name']}`: {stage_config} has no "
                f'{key}.dataset.data_root to read the masks from')
        root = dataset['data_root']
        mask_dir = (dataset.get('data_prefix') or {}).get('seg_map_path')
        if not mask_dir:
            raise PipelineError(
                f"stage `{stage['name']}`: {stage_config} has no "
                f'{key}.dataset.data_prefix.seg_map_path (the masks)')
        ann_file = dataset.get('ann_file') or None
        if ann_file and not osp.isabs(ann_file):
            ann_file = osp.join(root, ann_file)
        return root, mask_dir, ann_file

    @classmethod
    def tool_args(cls, stage: dict, data_root: str, mask_dir: str,
                  ann_file, out_dir: str, seed: int) -> list:
        """The tool's command line (after the script) for ``stage``."""
        label_seed = seed if stage['label_seed'] is None else stage[
            'label_seed']
        argv = [data_root, out_dir, '--mask-dir', mask_dir]
        if ann_file:
            argv += ['--list', ann_file]
        return argv + [
            '--classes', stage['classes'], '--seed',
            str(label_seed), '--points',
            str(stage['points']), '--min-area',
            str(stage['min_area']), '--connectivity',
            str(stage['connectivity'])
        ]

    @classmethod
    def run(cls, ctx, stage, stage_dir, args, stage_config, seed):
        root, mask_dir, ann_file = cls.dataset_files(ctx, stage, stage_config)
        out = osp.join(stage_dir, 'labels')
        argv = cls.tool_args(stage, root, mask_dir, ann_file, out, seed)
        ctx.run_tool(stage['name'], TOOL, argv, stage_dir)
        meta = ctx.read_json(osp.join(out, META_FILE)) or {}
        if not meta.get('complete'):
            raise PipelineError(
                f"stage `{stage['name']}`: {out} is incomplete; see "
                f'{osp.join(stage_dir, "stage.log")}')
        metrics = dict(num_images=meta['num_images'])
        if meta.get('computed_this_run'):
            n = meta['computed_this_run']
            metrics['points_per_image'] = round(meta['points_this_run'] / n,
                                                2)
            metrics['boxes_per_image'] = round(meta['boxes_this_run'] / n, 2)
        return dict(
            outputs=dict(
                points=osp.join(out, 'Points'),
                boxes=osp.join(out, 'Annotations'),
                work_dir=stage_dir),
            metrics=metrics)
