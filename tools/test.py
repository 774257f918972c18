# Copyright (c) OpenMMLab. All rights reserved.
"""Test a checkpoint; with a stage-2 config this is the pseudo-mask pass.

mmsegmentation's ``tools/test.py`` (``--work-dir``, ``--out``, ``--show``,
``--show-dir``, ``--wait-time``, ``--cfg-options``, ``--launcher``,
``--tta``), plus what is generic:

- ``--data-root DIR``: the ``data_root`` of every dataset of the config;
- ``--metrics-json FILE``: the returned metrics (and the ``extra_metrics``
  that hooks report, e.g. a fitting pass) written atomically;
- the checkpoint must fit the model: a key of the model missing from it, a
  key of it that the model lacks, or a shape mismatch is an error that
  names them (:class:`~mmwsss.engine.StrictLoadHook`), where mmengine only
  warns and tests the untrained weights; ``--non-strict-load`` loads what
  matches, with mmengine's warning;
- ``--out DIR``: the ``out_dir`` of every ``PredictionWriterHook`` in
  ``custom_hooks`` (one is appended when there is none): the predicted
  masks go to ``DIR/<image id>.png`` (and, when the config asks for them,
  the maps to ``DIR/cams/``). With a ``ResumableTestLoop`` a killed pass
  resumes at its first unfinished image.

What a pass computes is the config's: a dense CRF of the pseudo masks is
``model.test_cfg.crf``, a CRF after TTA ``--tta --cfg-options
tta_model.crf=deeplab-v2``.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmwsss.apis import (apply_common_args,  # noqa: E402
                         load_tool_config, setup_distributed,
                         write_metrics_json)

WRITER = 'PredictionWriterHook'
STRICT = 'StrictLoadHook'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='MMSeg/mmwsss test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help=('if specified, the evaluation metric results will be dumped'
              'into the directory as json'))
    parser.add_argument(
        '--out',
        type=str,
        help='The directory to save output prediction (masks, and maps '
        'when the config saves them) for offline evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved. '
        'If specified, it will be automatically saved '
        'to the work_dir/timestamp/show_dir')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--data-root', help='set data_root of every dataset in the config')
    parser.add_argument(
        '--metrics-json',
        help='also write the returned metrics to this JSON file (atomic)')
    parser.add_argument(
        '--non-strict-load',
        action='store_true',
        help='load a checkpoint that does not fit the model (missing or '
        'unexpected keys, other shapes): what matches is loaded, the rest '
        'keeps its initialisation, with a warning. By default that is an '
        'error naming the keys')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument(
        '--tta', action='store_true', help='Test time augmentation')
    # When using PyTorch version >= 2.0.0, the `torch.distributed.launch`
    # will pass the `--local-rank` parameter to `tools/train.py` instead
    # of `--local_rank`.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def trigger_visualization_hook(cfg, args):
    default_hooks = cfg.default_hooks
    if 'visualization' in default_hooks:
        visualization_hook = default_hooks['visualization']
        # Turn on visualization
        visualization_hook['draw'] = True
        if args.show:
            visualization_hook['show'] = True
            visualization_hook['wait_time'] = args.wait_time
        if args.show_dir:
            visualizer = cfg.visualizer
            visualizer['save_dir'] = args.show_dir
    else:
        raise RuntimeError(
            'VisualizationHook must be included in default_hooks.'
            'refer to usage '
            '"visualization=dict(type=\'VisualizationHook\')"')
    return cfg


def set_prediction_out_dir(cfg, out_dir: str) -> None:
    """``--out``: the folder of every prediction writer (one is added)."""
    hooks = list(cfg.get('custom_hooks') or [])
    writers = [
        h for h in hooks if str(h.get('type', '')).split('.')[-1] == WRITER
    ]
    if not writers:
        writers = [dict(type=WRITER)]
        hooks += writers
    for hook in writers:
        hook['out_dir'] = out_dir
    cfg.custom_hooks = hooks


def add_strict_load(cfg) -> None:
    """A ``StrictLoadHook`` in ``custom_hooks`` (unless there is one)."""
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(
            str(h.get('type', '')).split('.')[-1] == STRICT for h in hooks):
        hooks.append(dict(type=STRICT))
    cfg.custom_hooks = hooks


def main(argv=None):
    """Test from the command line ``argv`` (default: ``sys.argv[1:]``).

    Callable in-process (``mmwsss.apis.run_tool_in_process('test.py',
    argv)``) as well as a script.

    Returns:
        dict: The metrics ``runner.test()`` returned.
    """
    args = parse_args(argv)
    cfg = load_tool_config(args)
    apply_common_args(cfg, data_root=args.data_root)
    cfg.load_from = args.checkpoint
    if not args.non_strict_load:
        add_strict_load(cfg)

    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)

    if args.tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model

    if args.out is not None:
        set_prediction_out_dir(cfg, args.out)

    setup_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    write_metrics_json(args.metrics_json, metrics, runner.message_hub)
    return metrics


if __name__ == '__main__':
    main()
