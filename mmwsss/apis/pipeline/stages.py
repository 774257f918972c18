# Copyright (c) OpenMMLab. All rights reserved.
"""Stage kinds: how one stage of a pipeline runs, and what it outputs.

A stage kind is a class registered in :data:`STAGE_KINDS`. The built-in
kinds run mmwsss's tools, each in its own process (or, with the runner's
``in_process``, through the tool's ``main(argv)`` in the runner's process;
``ctx.run_tool`` chooses):

- ``train``: ``tools/train.py`` (resumes from its last checkpoint when the
  stage folder has one). Outputs ``checkpoint`` and ``work_dir``; its
  metrics are the last validation's.
- ``test``: ``tools/test.py CONFIG CHECKPOINT`` (``inputs.checkpoint`` is
  required), with ``--out <stage>/masks`` when ``out=True`` (the model's
  masks, and with a config that saves maps, ``masks/cams``) and ``--tta``
  when ``tta=True``. Outputs ``masks``, ``maps``, ``work_dir``; its
  metrics are the ones ``tools/test.py`` returns (the evaluator's, plus
  what hooks add, e.g. a fitting pass).

A new kind (a project's own tool, a conversion step...) subclasses
:class:`StageKind`, declares ``settings`` (its own keys and their
defaults), ``outputs`` and ``required_inputs``, implements :meth:`run`,
and registers itself::

    @STAGE_KINDS.register_module()
    class MyKind(StageKind):
        name = 'my_kind'
        ...
"""
import os.path as osp
from typing import Dict, List, Tuple

from mmengine.registry import Registry

__all__ = ['PipelineError', 'STAGE_KINDS', 'StageKind', 'TrainStage',
           'TestStage']


class PipelineError(RuntimeError):
    """A pipeline config is invalid or one of its stages failed."""


class _KindRegistry(Registry):
    """Registers stage kinds under their ``name`` attribute."""

    def register_module(self, name=None, force=False, module=None):
        if module is not None:
            return super().register_module(
                name=name or module.name, force=force, module=module)

        def _register(cls):
            super(_KindRegistry, self).register_module(
                name=name or cls.name, force=force, module=cls)
            return cls

        return _register


#: The registry of pipeline stage kinds.
STAGE_KINDS = _KindRegistry('pipeline stage kind')


class StageKind:
    """Base class of a stage kind.

    Attributes:
        name (str): The ``kind`` value in a pipeline config.
        settings (dict): The kind's own stage keys and their defaults.
        outputs (tuple[str]): Names of the outputs later stages can use.
        required_inputs (tuple[str]): Input keys a stage of this kind must
            have.
        input_args (tuple[str]): Input keys that are arguments of the kind
            itself, not config keys.
    """

    name = ''
    settings: Dict = {}
    outputs: Tuple[str, ...] = ()
    required_inputs: Tuple[str, ...] = ()
    input_args: Tuple[str, ...] = ()

    @classmethod
    def check(cls, stage: dict, where: str) -> None:
        """Check the kind's settings of ``stage``; raise PipelineError."""

    @classmethod
    def run(cls, ctx, stage: dict, stage_dir: str, args: Dict,
            stage_config: str, seed: int) -> dict:
        """Run the stage.

        Args:
            ctx: The :class:`~mmwsss.apis.pipeline.PipelineRunner` (tool
                and process launching, logging).
            stage (dict): The checked stage.
            stage_dir (str): Its folder (exists).
            args (dict): The resolved inputs that are kind arguments.
            stage_config (str): The stage's config file with every input
                and option applied.
            seed (int): The seed of this run of the chain.

        Returns:
            dict: ``outputs`` (name -> path) and ``metrics``.
        """
        raise NotImplementedError


@STAGE_KINDS.register_module()
class TrainStage(StageKind):
    """``tools/train.py``: train a model; resume an interrupted run."""

    name = 'train'
    settings: Dict = {}
    outputs = ('checkpoint', 'work_dir')

    @classmethod
    def run(cls, ctx, stage, stage_dir, args, stage_config, seed):
        metrics_json = osp.join(stage_dir, 'val_metrics.json')
        argv: List[str] = [
            stage_config, '--work-dir', stage_dir, '--seed',
            str(seed), '--metrics-json', metrics_json, *ctx.common_args()
        ]
        if osp.isfile(osp.join(stage_dir, 'last_checkpoint')):
            argv.append('--resume')  # an interrupted run goes on
        ctx.run_tool(stage['name'], 'train.py', argv, stage_dir)
        with open(osp.join(stage_dir, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
        val = ctx.read_json(metrics_json) or {}
        return dict(
            outputs=dict(checkpoint=checkpoint, work_dir=stage_dir),
            metrics=val.get('metrics', {}))


@STAGE_KINDS.register_module()
class TestStage(StageKind):
    """``tools/test.py``: test a checkpoint, optionally writing its masks."""

    name = 'test'
    settings = dict(tta=False, out=False)
    outputs = ('masks', 'maps', 'work_dir')
    required_inputs = ('checkpoint', )
    input_args = ('checkpoint', )

    @classmethod
    def check(cls, stage, where):
        for key in ('tta', 'out'):
            if not isinstance(stage[key], bool):
                raise PipelineError(f'{where}.{key} must be True or False, got '
                         f'{stage[key]!r}')

    @classmethod
    def run(cls, ctx, stage, stage_dir, args, stage_config, seed):
        metrics_json = osp.join(stage_dir, 'metrics.json')
        masks = osp.join(stage_dir, 'masks')
        argv = [
            stage_config, args['checkpoint'], '--work-dir', stage_dir,
            '--metrics-json', metrics_json, *ctx.common_args()
        ]
        if stage['out']:
            argv += ['--out', masks]
        if stage['tta']:
            argv.append('--tta')
        ctx.run_tool(stage['name'], 'test.py', argv, stage_dir)
        return dict(
            outputs=dict(
                masks=masks, maps=osp.join(masks, 'cams'),
                work_dir=stage_dir),
            metrics=ctx.read_json(metrics_json) or {})
