# Copyright (c) OpenMMLab. All rights reserved.
"""Run a WSSS chain declared as a graph of stages, resumably.

- :mod:`.graph`: read and check a pipeline config (the ``stages`` list);
- :mod:`.stages`: the stage kinds (``train``, ``test``; a registry for more);
- :mod:`.runner`: run the stages (processes, stage configs, resume, one
  run per work dir);
- :mod:`.report`: mean and spread over seeds, the printed table.
"""
from .graph import check_stages, load_pipeline_config
from .report import format_results, summarise_runs
from .runner import PipelineRunner, WorkDirLock, WSSSPipeline, stage_config
from .stages import (STAGE_KINDS, PipelineError, StageKind, TestStage,
                     TrainStage)

__all__ = [
    'PipelineError', 'PipelineRunner', 'WorkDirLock', 'WSSSPipeline',
    'STAGE_KINDS', 'StageKind', 'TrainStage', 'TestStage', 'check_stages',
    'load_pipeline_config', 'stage_config', 'summarise_runs',
    'format_results'
]
