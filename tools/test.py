# Copyright (c) OpenMMLab. All rights reserved.
"""Test a checkpoint; with a CAM config this is stage 2 (pseudo masks).

Same arguments as mmsegmentation's ``tools/test.py`` (``--work-dir``,
``--out``, ``--show``, ``--show-dir``, ``--wait-time``, ``--cfg-options``,
``--launcher``, ``--tta``), plus ``--data-root``, ``--crf`` and
``--metrics-json``. ``--crf NAME`` is a dense-CRF preset (``psa``,
``irn``, ``deeplab-v2``) or ``none``: with a ``PseudoMaskMetric`` (stage 2)
it refines the pseudo masks; with a segmentation config (stage 3) it
post-processes the final predictions through ``CRFSegTTAModel``, after the
multi-scale + flip average with ``--tta`` or on the single-scale output
without it. When the test evaluator is a ``PseudoMaskMetric`` without an
output directory, masks are written to ``<work_dir>/pseudo_masks``.

``--relabel PREV_MASK_DIR [--fill uncertain|all]`` turns a segmentation
config into the relabel pass of a retraining round (Luo & Yang, AAAI 2020):
the model predicts the TRAIN split (the train dataset with the test
pipeline, batch size 1, ground-truth masks for scoring) and a
``RelabelMetric`` fills the ignored pixels of the pseudo masks in
``PREV_MASK_DIR`` with its predictions (``--fill all``: takes the
predictions everywhere), writes them to ``--out`` (required) and scores
them. ``--cfg-options`` apply before; ``train_dataloader.dataset.*`` keys
therefore also set the relabelled dataset (e.g. its ground-truth folder
``data_prefix.seg_map_path``). A killed pass resumes at its first
unfinished image. See :func:`mmwsss.apis.configure_relabel`.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from mmwsss.apis import (apply_common_args,  # noqa: E402
                         configure_relabel, configure_seg_crf,
                         load_tool_config, setup_distributed,
                         write_metrics_json)


def parse_args():
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
        help='The directory to save output prediction (pseudo masks) for '
        'offline evaluation')
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
        '--crf',
        help='dense-CRF preset (psa, irn, deeplab-v2) or "none": refines '
        'the pseudo masks of a PseudoMaskMetric, or post-processes the '
        'predictions of a segmentation model (after TTA with --tta)')
    parser.add_argument(
        '--relabel',
        metavar='PREV_MASK_DIR',
        help='relabel pass of a retraining round: predict the train split '
        'and fill the ignored pixels of the pseudo masks in PREV_MASK_DIR; '
        'the filled masks go to --out (required)')
    parser.add_argument(
        '--fill',
        choices=['uncertain', 'all'],
        default='uncertain',
        help='with --relabel: fill only the ignored pixels (uncertain) or '
        'take the predictions everywhere (all)')
    parser.add_argument(
        '--metrics-json',
        help='also write the returned metrics to this JSON file (atomic)')
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
    args = parser.parse_args()
    if args.relabel is not None and args.out is None:
        parser.error('--relabel needs --out (where the filled masks go)')
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


def _evaluators(cfg):
    ev = cfg.test_evaluator
    return ev if isinstance(ev, (list, tuple)) else [ev]


def _is_pseudo(ev) -> bool:
    return ev.get('type') in ('PseudoMaskMetric', 'mmseg.PseudoMaskMetric')


def main():
    args = parse_args()
    cfg = load_tool_config(args)
    apply_common_args(cfg, data_root=args.data_root)
    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)

    has_pseudo = any(_is_pseudo(ev) for ev in _evaluators(cfg))
    use_tta = args.tta
    if args.crf is not None and not has_pseudo:
        # CRF on the final predictions goes through the TTA model.
        use_tta = configure_seg_crf(cfg, args.crf, args.tta)
    if use_tta:
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.relabel is not None:
        # after the TTA swap: the relabel pass takes the (TTA) test pipeline
        configure_relabel(cfg, args.relabel, args.fill, args.out)

    for ev in _evaluators(cfg):
        is_pseudo = _is_pseudo(ev)
        if args.out is not None:
            ev['output_dir'] = args.out
            ev['keep_results'] = True
        elif is_pseudo and ev.get('output_dir') is None:
            ev['output_dir'] = osp.join(cfg.work_dir, 'pseudo_masks')
        if args.crf is not None and is_pseudo:
            ev['crf'] = None if args.crf.lower() == 'none' else args.crf

    setup_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    write_metrics_json(args.metrics_json, metrics)


if __name__ == '__main__':
    main()
