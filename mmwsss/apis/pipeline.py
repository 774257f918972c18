# Copyright (c) OpenMMLab. All rights reserved.
"""Run a WSSS chain (classifier -> pseudo masks -> [refinement] ->
segmentation -> [relabel -> retrain]* -> final test) from one pipeline
config, resumably.

A pipeline config is an mmengine config file with these keys (paths of
stage configs are relative to the pipeline config's folder unless
absolute)::

    classifier = dict(config='../cam/cam_....py',   # stage 1, tools/train.py
                      cfg_options=dict())
    class_patterns = None                 # or dict(config=None, cfg_options=
                                          # dict()): the pattern pass of Luo
                                          # & Yang before stage 2 (config
                                          # None = the classifier's)
    pseudo_masks = dict(config=None,      # stage 2, tools/test.py on the
                        crf='none',       # classifier config's test split;
                        cfg_options=dict())  # config None = the classifier's
    refinement = None                     # or dict(config=None, crf='psa',
                                          #         cfg_options=dict()),
                                          # or a trained refiner:
                                          # dict(train_config='../affinity
                                          #      net/....py',
                                          #      train_cfg_options=dict())
    segmentation = dict(config='../deeplabv2/....py',  # stage 3
                        tta=True,         # also test with its tta_pipeline
                        crf=None,         # dense CRF after the TTA average
                        cfg_options=dict(),   # for its training
                        test_cfg_options=dict())  # for its two tests
    retrain = None    # or dict(rounds=1,          # relabel + retrain rounds
                      #         fill='uncertain',  # or 'all'
                      #         test_cfg_options=dict())  # relabel passes
    seed = 0          # first seed
    repeat = 1        # run the chain for seeds seed, seed+1, ...
    nproc = 1         # processes per stage (torch.distributed.run; gloo on
                      # CPU, NCCL on GPUs)
    data_root = None  # --data-root of every stage (None: the configs')

Stages and their folders under ``work_dir/seed_<s>/``:

=================  ===========================================  ===========
stage              what runs                                    output
=================  ===========================================  ===========
``classifier``     ``tools/train.py`` classifier config          checkpoint
``class_patterns`` ``tools/extract_class_patterns.py``           ``.pth``
``pseudo_masks``   ``tools/test.py`` (CAM masks of train split)  ``masks/``
``refinement_train`` ``tools/train.py`` refiner (AffinityNet)   checkpoint
``refinement``     ``tools/test.py`` with the refiner            ``masks/``
``segmentation``   ``tools/train.py`` on the (refined) masks     checkpoint
``relabel_<r>``    ``tools/test.py --relabel`` (train split)     ``masks/``
``segmentation_<r>`` ``tools/train.py`` on ``relabel_<r>`` masks  checkpoint
``test``           ``tools/test.py`` single scale on val         metrics
``test_tta``       ``tools/test.py --tta [--crf]`` on val        metrics
=================  ===========================================  ===========

Each stage runs in its own process (so a failure cannot leave a half-
initialised registry or process group behind) and, when it succeeds,
writes ``stage.json`` (atomically) with its outputs, metrics, wall time and
settings. A rerun skips every stage that has its ``stage.json`` (and stops
with a clear message when the stage's settings have changed since); an
interrupted
training stage resumes from its last checkpoint, an interrupted
pseudo-mask stage from its last finished image. The results of all stages
go to ``work_dir/results.json`` and are printed as a table.

The refinement slot takes any test-time refiner that writes masks through
``tools/test.py`` (the dense CRF of the pseudo-mask metric), or a refiner
with its own training: with ``refinement.train_config`` set (e.g. an
AffinityNet config), ``refinement_train`` trains it on the CAMs saved by the
pseudo-mask stage (``train_dataloader.dataset.cam_dir`` is set to
``pseudo_masks/masks/cams``; the classifier's test config must save them,
``test_evaluator.save_cams=True``) and ``refinement`` runs its test config
(``config``, default ``train_config``) with that checkpoint on the same
CAMs (``test_dataloader.dataset.cam_dir``).

``class_patterns`` adds the class-pattern pass of Luo & Yang (AAAI 2020):
``tools/extract_class_patterns.py`` with the classifier's checkpoint
writes ``class_patterns/class_patterns.pth``, and the ``pseudo_masks``
stage reads it (``model.test_cfg.class_patterns``); both use the
``class_patterns`` config (default: the classifier's, which must then be a
``ClassPatternSegmentor`` config).

``retrain`` adds the retraining rounds of Luo & Yang (AAAI 2020): after
``segmentation`` (round 0), round ``r = 1..rounds`` runs ``relabel_<r>``
(``tools/test.py --relabel``: the previous round's model predicts the train
split and fills the ignored pixels of the masks that round trained on, or
replaces them all with ``fill='all'``; ``test_cfg_options`` are its
``--cfg-options``, e.g. VOC's train_aug ground truth
``train_dataloader.dataset.data_prefix.seg_map_path='SegmentationClassAug'``
to score them) and ``segmentation_<r>`` (the segmentation config trained
again from scratch, same ``cfg_options``, on ``relabel_<r>/masks``).
``test`` and ``test_tta`` then use the last round's checkpoint.
``results.json`` adds ``relabelled_pseudo_mask_mIoU`` (the last relabel
round's masks) and, per seed, ``rounds``: for each round the mIoU of the
masks it trained on, the percentage of pixels its relabel pass filled and
its segmentation stage's last validation mIoU.
"""
import hashlib
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config

from mmwsss.utils.io import atomic_write_bytes

__all__ = ['PipelineError', 'WSSSPipeline', 'load_pipeline_config']

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# ``{r}``: the retraining round, 1..retrain.rounds
STAGES = ('classifier', 'class_patterns', 'pseudo_masks', 'refinement_train', 'refinement',
          'segmentation', 'relabel_{r}', 'segmentation_{r}', 'test',
          'test_tta')
FILL_MODES = ('uncertain', 'all')
# The metrics of results.json, as (key, stage, metric name in its output).
RESULT_KEYS = (
    ('class_pattern_explained_pct', 'class_patterns',
     'class_pattern/mean_explained_variance'),
    ('cam_pseudo_mask_mIoU', 'pseudo_masks', 'mIoU'),
    ('cam_pseudo_mask_oracle_mIoU', 'pseudo_masks', 'oracle_mIoU'),
    ('refined_pseudo_mask_mIoU', 'refinement', 'mIoU'),
    ('refined_pseudo_mask_oracle_mIoU', 'refinement', 'oracle_mIoU'),
    # the last retraining round's relabel stage
    ('relabelled_pseudo_mask_mIoU', 'relabel_{r}', 'mIoU'),
    ('val_mIoU', 'test', 'mIoU'),
    ('val_mIoU_tta', 'test_tta', 'mIoU'),
)


class PipelineError(RuntimeError):
    """A pipeline config is invalid or one of its stages failed."""


def _resolve(path: Optional[str], base: str) -> Optional[str]:
    if path is None or osp.isabs(path):
        return path
    return osp.normpath(osp.join(base, path))


def _check_stage_config(path: str, key: str, value: str, base: str) -> str:
    """Resolve a stage config path; it must exist and parse."""
    stage_cfg = _resolve(value, base)
    if not osp.isfile(stage_cfg):
        raise PipelineError(
            f'pipeline config {path}: {key} {value} does not exist '
            f'(resolved to {stage_cfg})')
    try:
        Config.fromfile(stage_cfg)
    except Exception as e:  # syntax errors, missing _base_ files...
        raise PipelineError(f'pipeline config {path}: {key} {stage_cfg} '
                            f'cannot be read: {e}') from e
    return stage_cfg


def load_pipeline_config(path: str) -> Config:
    """Read and check a pipeline config before anything runs.

    Every stage config it names must exist and parse; unknown stage keys
    and missing required stages are errors.

    Args:
        path (str): The pipeline config file.

    Returns:
        Config: The config, with stage config paths made absolute.

    Raises:
        PipelineError: Naming the key and the file at fault.
    """
    if not osp.isfile(path):
        raise PipelineError(f'pipeline config {path} does not exist')
    cfg = Config.fromfile(path)
    base = osp.dirname(osp.abspath(path))
    for key in ('classifier', 'segmentation'):
        if not isinstance(cfg.get(key), dict) or not cfg[key].get('config'):
            raise PipelineError(
                f'pipeline config {path}: `{key}` must be a dict with a '
                '`config` path')
    for key in ('classifier', 'class_patterns', 'pseudo_masks', 'refinement',
                'segmentation'):
        stage = cfg.get(key)
        if stage is None:
            continue
        if not isinstance(stage, dict):
            raise PipelineError(f'pipeline config {path}: `{key}` must be a '
                                f'dict or None, got {type(stage).__name__}')
        if key == 'refinement' and stage.get('train_config'):
            train_cfg = _check_stage_config(path, 'refinement.train_config',
                                            stage['train_config'], base)
            stage['train_config'] = train_cfg
            stage.setdefault('config', None)
            if not stage['config']:
                stage['config'] = train_cfg
        if stage.get('config'):
            stage['config'] = _check_stage_config(path, f'{key}.config',
                                                  stage['config'], base)
    repeat = cfg.get('repeat', 1)
    if not isinstance(repeat, int) or repeat < 1:
        raise PipelineError(f'pipeline config {path}: repeat must be an int '
                            f'>= 1, got {repeat!r}')
    nproc = cfg.get('nproc', 1)
    if not isinstance(nproc, int) or nproc < 1:
        raise PipelineError(f'pipeline config {path}: nproc must be an int '
                            f'>= 1, got {nproc!r}')
    _check_retrain(path, cfg.get('retrain'))
    data_root = cfg.get('data_root')
    if data_root is not None and not osp.isdir(data_root):
        raise PipelineError(f'pipeline config {path}: data_root {data_root} '
                            'is not a directory')
    return cfg


def _check_retrain(path: str, retrain) -> None:
    """Check the ``retrain`` key (None, or a dict of known settings)."""
    if retrain is None:
        return
    if not isinstance(retrain, dict):
        raise PipelineError(f'pipeline config {path}: `retrain` must be a '
                            f'dict or None, got {type(retrain).__name__}')
    unknown = set(retrain) - {'rounds', 'fill', 'test_cfg_options'}
    if unknown:
        raise PipelineError(
            f'pipeline config {path}: unknown key(s) retrain.'
            f'{", retrain.".join(sorted(unknown))} (known: rounds, fill, '
            'test_cfg_options)')
    rounds = retrain.get('rounds', 1)
    if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 0:
        raise PipelineError(f'pipeline config {path}: retrain.rounds must be '
                            f'an int >= 0, got {rounds!r}')
    fill = retrain.get('fill', 'uncertain')
    if fill not in FILL_MODES:
        raise PipelineError(f'pipeline config {path}: retrain.fill must be '
                            f"one of {FILL_MODES}, got {fill!r}")
    options = retrain.get('test_cfg_options')
    if options is not None and not isinstance(options, dict):
        raise PipelineError(
            f'pipeline config {path}: retrain.test_cfg_options must be a '
            f'dict or None, got {type(options).__name__}')


def _retrain_rounds(cfg: Config) -> int:
    retrain = cfg.get('retrain')  # dict() is one round with the defaults
    return 0 if retrain is None else int(retrain.get('rounds', 1))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _cfg_options(options: Optional[Dict]) -> List[str]:
    if not options:
        return []
    out = ['--cfg-options']
    for k, v in options.items():
        out.append(f'{k}={_option_value(v)}')
    return out


def _option_value(value) -> str:
    if isinstance(value, (list, tuple)):
        inner = ','.join(_option_value(v) for v in value)
        return f'[{inner}]' if isinstance(value, list) else f'({inner})'
    if value is None:
        return 'None'
    return str(value)


def _read_json(path: str) -> Optional[dict]:
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


class WSSSPipeline:
    """Run the stages of one pipeline config for one or more seeds.

    Args:
        cfg (Config): From :func:`load_pipeline_config`.
        work_dir (str): Where every stage writes (``seed_<s>/<stage>/``) and
            where ``results.json`` goes.
        nproc (int, optional): Processes per stage; overrides the config's
            ``nproc``.
        seeds (Sequence[int], optional): Overrides ``seed``/``repeat``.
        quiet (bool): Only write the stages' output to their log files
            (``<stage>/stage.log``) instead of also echoing it.
        python (str): The Python interpreter of the stage processes.
    """

    def __init__(self,
                 cfg: Config,
                 work_dir: str,
                 nproc: Optional[int] = None,
                 seeds: Optional[Sequence[int]] = None,
                 quiet: bool = False,
                 python: str = sys.executable) -> None:
        self.cfg = cfg
        self.work_dir = osp.abspath(work_dir)
        self.nproc = int(nproc if nproc is not None else cfg.get('nproc', 1))
        if seeds is None:
            first = int(cfg.get('seed', 0))
            seeds = [first + i for i in range(int(cfg.get('repeat', 1)))]
        self.seeds = [int(s) for s in seeds]
        self.quiet = quiet
        self.python = python
        self.data_root = cfg.get('data_root')

    # ------------------------------------------------------------------
    def _command(self, tool: str, args: List[str]) -> List[str]:
        script = osp.join(REPO_ROOT, 'tools', tool)
        if self.nproc > 1:
            return [
                self.python, '-m', 'torch.distributed.run',
                f'--nproc_per_node={self.nproc}',
                f'--master_port={_free_port()}', script, *args, '--launcher',
                'pytorch'
            ]
        return [self.python, script, *args]

    def _run_process(self, name: str, cmd: List[str], stage_dir: str) -> None:
        log_path = osp.join(stage_dir, 'stage.log')
        env = dict(os.environ)
        env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
        # line by line through the pipe, so progress shows as it happens
        env['PYTHONUNBUFFERED'] = '1'
        with open(log_path, 'ab') as log:
            log.write(('$ ' + ' '.join(cmd) + '\n').encode())
            log.flush()
            proc = subprocess.Popen(
                cmd,
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT)
            try:
                # bytes as they come: progress bars keep their '\r'
                while True:
                    chunk = proc.stdout.read1(65536)
                    if not chunk:
                        break
                    log.write(chunk)
                    log.flush()  # `tail -f stage.log` follows the stage
                    if not self.quiet:
                        out = getattr(sys.stdout, 'buffer', None)
                        if out is not None:
                            out.write(chunk)
                        else:  # a text-only stream (e.g. captured)
                            sys.stdout.write(chunk.decode(errors='replace'))
                        sys.stdout.flush()
            finally:
                code = proc.wait()
        if code != 0:
            with open(log_path, errors='replace') as f:
                tail = ''.join(f.read().replace('\r', '\n').splitlines(
                    keepends=True)[-15:])
            raise PipelineError(
                f'stage `{name}` failed (exit code {code}); its full log is '
                f'{log_path}. Fix the cause and rerun the same command: '
                'finished stages are skipped. Last lines:\n' + tail)

    def _stage(self, name: str, run_dir: str, body) -> dict:
        """Run ``body(stage_dir)`` unless the stage is already done.

        A finished stage is reused only when it was made with the same
        settings (``body.signature``: tool, config path and content hash,
        seed, options, CRF/TTA, checkpoint, data root); otherwise the run
        stops and says which folder to delete, instead of silently mixing
        results of two settings.
        """
        stage_dir = osp.join(run_dir, name)
        done_file = osp.join(stage_dir, 'stage.json')
        done = _read_json(done_file)
        if done is not None:
            if done.get('signature') != body.signature:
                raise PipelineError(
                    f'stage `{name}` in {stage_dir} was finished with other '
                    f'settings ({done.get("signature")}) than now '
                    f'({body.signature}). Delete {stage_dir} and the folders '
                    'of the stages after it to rerun them, or use another '
                    '--work-dir.')
            print(f'[pipeline] {name}: done before ({done_file}), skipped',
                  flush=True)
            return done
        os.makedirs(stage_dir, exist_ok=True)
        print(f'[pipeline] {name}: running (log: {stage_dir}/stage.log)',
              flush=True)
        start = time.time()
        record = body(stage_dir)
        record['wall_time_s'] = round(time.time() - start, 1)
        record['stage'] = name
        record['signature'] = body.signature
        atomic_write_bytes(done_file, json.dumps(record, indent=2).encode())
        print(f'[pipeline] {name}: finished in {record["wall_time_s"]:.1f} s',
              flush=True)
        return record

    # ------------------------------------------------------------------
    def _common(self) -> List[str]:
        return ['--data-root', self.data_root] if self.data_root else []

    def _train(self, name: str, config: str, seed: int,
               options: Optional[Dict]):

        def body(stage_dir: str) -> dict:
            metrics_json = osp.join(stage_dir, 'val_metrics.json')
            args = [
                config, '--work-dir', stage_dir, '--seed',
                str(seed), '--metrics-json', metrics_json, *self._common()
            ]
            if osp.isfile(osp.join(stage_dir, 'last_checkpoint')):
                args.append('--resume')  # an interrupted run goes on
            args += _cfg_options(options)
            self._run_process(name, self._command('train.py', args),
                              stage_dir)
            with open(osp.join(stage_dir, 'last_checkpoint')) as f:
                ckpt = f.read().strip()
            val = _read_json(metrics_json) or {}
            return dict(
                checkpoint=ckpt,
                config=config,
                seed=seed,
                metrics=val.get('metrics', {}))

        body.signature = self._signature('train.py', config, seed=seed,
                                         cfg_options=options)
        return body

    def _test(self,
              name: str,
              config: str,
              checkpoint: str,
              options: Optional[Dict],
              crf: Optional[str],
              tta: bool,
              masks: bool,
              relabel: Optional[Dict] = None):
        """``tools/test.py``; ``relabel=dict(prev=DIR, fill=MODE)`` makes it
        a relabel pass (``--relabel DIR --fill MODE``, masks to ``masks/``).
        """

        def body(stage_dir: str) -> dict:
            metrics_json = osp.join(stage_dir, 'metrics.json')
            args = [
                config, checkpoint, '--work-dir', stage_dir, '--metrics-json',
                metrics_json, *self._common()
            ]
            if masks:
                args += ['--out', osp.join(stage_dir, 'masks')]
            if relabel is not None:
                args += [
                    '--relabel', relabel['prev'], '--fill', relabel['fill']
                ]
            if crf is not None:
                args += ['--crf', str(crf)]
            if tta:
                args.append('--tta')
            args += _cfg_options(options)
            self._run_process(name, self._command('test.py', args), stage_dir)
            out = dict(
                config=config,
                checkpoint=checkpoint,
                crf=crf,
                tta=tta,
                metrics=_read_json(metrics_json) or {})
            if masks:
                out['masks'] = osp.join(stage_dir, 'masks')
            return out

        # relabel settings only where used: older stage.json files still
        # match the signatures of the other test stages
        extra = {} if relabel is None else dict(
            relabel=relabel['prev'], fill=relabel['fill'])
        body.signature = self._signature(
            'test.py',
            config,
            checkpoint=checkpoint,
            cfg_options=options,
            crf=crf,
            tta=tta,
            **extra)
        return body

    def _extract_patterns(self, config: str, checkpoint: str,
                          options: Optional[Dict]):
        """``tools/extract_class_patterns.py``: the class-pattern file."""

        def body(stage_dir: str) -> dict:
            metrics_json = osp.join(stage_dir, 'metrics.json')
            args = [
                config, checkpoint, '--out', stage_dir, '--work-dir',
                stage_dir, '--metrics-json', metrics_json, *self._common()
            ]
            args += _cfg_options(options)
            self._run_process('class_patterns',
                              self._command('extract_class_patterns.py',
                                            args), stage_dir)
            return dict(
                config=config,
                checkpoint=checkpoint,
                file=osp.join(stage_dir, 'class_patterns.pth'),
                metrics=_read_json(metrics_json) or {})

        body.signature = self._signature(
            'extract_class_patterns.py',
            config,
            checkpoint=checkpoint,
            cfg_options=options)
        return body

    def _signature(self, tool: str, config: str, **settings) -> dict:
        with open(config, 'rb') as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        return json.loads(
            json.dumps(
                dict(
                    tool=tool,
                    config=config,
                    config_sha256=digest,
                    data_root=self.data_root,
                    **settings)))

    def run_seed(self, seed: int) -> dict:
        """Run (or resume) the whole chain for one seed."""
        cfg = self.cfg
        run_dir = osp.join(self.work_dir, f'seed_{seed}')
        os.makedirs(run_dir, exist_ok=True)
        records = {}
        cls = cfg.classifier
        records['classifier'] = self._stage(
            'classifier', run_dir,
            self._train('classifier', cls['config'], seed,
                        cls.get('cfg_options')))
        ckpt = records['classifier']['checkpoint']

        pm = dict(cfg.get('pseudo_masks') or {})
        pm_options = pm.get('cfg_options')
        cp = cfg.get('class_patterns')
        if cp is not None:
            cp_config = cp.get('config') or cls['config']
            records['class_patterns'] = self._stage(
                'class_patterns', run_dir,
                self._extract_patterns(cp_config, ckpt,
                                       cp.get('cfg_options')))
            pm_options = dict(pm_options or {})
            pm_options['model.test_cfg.class_patterns'] = records[
                'class_patterns']['file']
            if not pm.get('config'):
                pm['config'] = cp_config
        records['pseudo_masks'] = self._stage(
            'pseudo_masks', run_dir,
            self._test('pseudo_masks', pm.get('config') or cls['config'],
                       ckpt, pm_options, pm.get('crf', 'none'), False,
                       True))
        masks = records['pseudo_masks']['masks']

        ref = cfg.get('refinement')
        if ref:
            ref_ckpt = ckpt
            ref_options = dict(ref.get('cfg_options') or {})
            if ref.get('train_config'):
                cam_dir = osp.join(masks, 'cams')
                train_options = dict(ref.get('train_cfg_options') or {})
                train_options['train_dataloader.dataset.cam_dir'] = cam_dir
                records['refinement_train'] = self._stage(
                    'refinement_train', run_dir,
                    self._train('refinement_train', ref['train_config'],
                                seed, train_options))
                ref_ckpt = records['refinement_train']['checkpoint']
                ref_options['test_dataloader.dataset.cam_dir'] = cam_dir
            records['refinement'] = self._stage(
                'refinement', run_dir,
                self._test('refinement', ref.get('config') or cls['config'],
                           ref_ckpt, ref_options or ref.get('cfg_options'),
                           ref.get('crf'), False, True))
            masks = records['refinement']['masks']

        seg = cfg.segmentation
        options = dict(seg.get('cfg_options') or {})
        options['train_dataloader.dataset.pseudo_mask_dir'] = masks
        records['segmentation'] = self._stage(
            'segmentation', run_dir,
            self._train('segmentation', seg['config'], seed, options))
        seg_ckpt = records['segmentation']['checkpoint']
        retrain = dict(cfg.get('retrain') or {})
        for r in range(1, _retrain_rounds(cfg) + 1):
            relabel = f'relabel_{r}'
            records[relabel] = self._stage(
                relabel, run_dir,
                self._test(
                    relabel,
                    seg['config'],
                    seg_ckpt,
                    retrain.get('test_cfg_options'),
                    None,
                    False,
                    True,
                    relabel=dict(
                        prev=masks, fill=retrain.get('fill', 'uncertain'))))
            masks = records[relabel]['masks']
            options = dict(seg.get('cfg_options') or {})
            options['train_dataloader.dataset.pseudo_mask_dir'] = masks
            records[f'segmentation_{r}'] = self._stage(
                f'segmentation_{r}', run_dir,
                self._train(f'segmentation_{r}', seg['config'], seed,
                            options))
            seg_ckpt = records[f'segmentation_{r}']['checkpoint']
        test_options = dict(seg.get('test_cfg_options') or {})
        records['test'] = self._stage(
            'test', run_dir,
            self._test('test', seg['config'], seg_ckpt, test_options, None,
                       False, False))
        if seg.get('tta', True) or seg.get('crf'):
            records['test_tta'] = self._stage(
                'test_tta', run_dir,
                self._test('test_tta', seg['config'], seg_ckpt, test_options,
                           seg.get('crf') or 'none', bool(seg.get('tta',
                                                                  True)),
                           False))
        return self._summarise_run(seed, records)

    @staticmethod
    def _summarise_run(seed: int, records: Dict[str, dict]) -> dict:
        run = dict(seed=seed)
        num_rounds = 0
        while f'relabel_{num_rounds + 1}' in records:
            num_rounds += 1
        for key, stage, metric in RESULT_KEYS:
            stage = stage.format(r=num_rounds)
            rec = records.get(stage)
            value = None if rec is None else rec['metrics'].get(metric)
            run[key] = value

        def metric(stage: str, name: str):
            rec = records.get(stage)
            return None if rec is None else rec['metrics'].get(name)

        masks0 = 'refinement' if 'refinement' in records else 'pseudo_masks'
        run['rounds'] = [
            dict(
                round=r,
                pseudo_mask_mIoU=metric(
                    f'relabel_{r}' if r else masks0, 'mIoU'),
                filled_pct=metric(f'relabel_{r}', 'filled_pct')
                if r else None,
                val_mIoU=metric(
                    f'segmentation_{r}' if r else 'segmentation', 'mIoU'))
            for r in range(num_rounds + 1)
        ]
        tta = records.get('test_tta')
        run['val_tta_setting'] = None if tta is None else dict(
            tta=tta['tta'], crf=None if tta['crf'] == 'none' else tta['crf'])
        run['classifier_val'] = records['classifier']['metrics']
        run['stage_wall_time_s'] = {
            k: v['wall_time_s']
            for k, v in records.items()
        }
        return run

    def run(self) -> dict:
        """Run every seed, write ``results.json`` and return its content."""
        os.makedirs(self.work_dir, exist_ok=True)
        start = time.time()
        runs = [self.run_seed(s) for s in self.seeds]
        results = summarise_runs(runs)
        results['nproc'] = self.nproc
        results['total_wall_time_s'] = round(time.time() - start, 1)
        atomic_write_bytes(
            osp.join(self.work_dir, 'results.json'),
            json.dumps(results, indent=2).encode())
        print(format_results(results), flush=True)
        print(f'[pipeline] results written to '
              f'{osp.join(self.work_dir, "results.json")}', flush=True)
        return results


def summarise_runs(runs: List[dict]) -> dict:
    """Mean and spread of every metric over the runs of several seeds.

    With one run the top-level values are that run's; with several, each
    top-level metric is the mean over the seeds, and ``summary`` has the
    mean, the sample standard deviation (``ddof=1``), min, max and the
    values.
    """
    keys = [k for k, _, _ in RESULT_KEYS]
    summary = {}
    for key in keys:
        values = [r[key] for r in runs if r.get(key) is not None]
        if not values:
            continue
        arr = np.asarray(values, dtype=np.float64)
        summary[key] = dict(
            mean=round(float(arr.mean()), 2),
            std=round(float(arr.std(ddof=1)), 2) if arr.size > 1 else 0.0,
            min=round(float(arr.min()), 2),
            max=round(float(arr.max()), 2),
            values=[round(float(v), 2) for v in values])
    results = dict(seed=runs[0]['seed'] if len(runs) == 1 else
                   [r['seed'] for r in runs])
    for key in keys:
        results[key] = summary[key]['mean'] if key in summary else None
    results['val_tta_setting'] = runs[0]['val_tta_setting']
    stages = runs[0]['stage_wall_time_s'].keys()
    results['stage_wall_time_s'] = {
        s: round(float(np.mean([r['stage_wall_time_s'][s] for r in runs])), 1)
        for s in stages
    }
    if all(r.get('rounds') for r in runs):
        # per round, the mean over the seeds of each value
        results['rounds'] = []
        for i, first in enumerate(runs[0]['rounds']):
            entry = dict(round=first['round'])
            for name in ('pseudo_mask_mIoU', 'filled_pct', 'val_mIoU'):
                values = [
                    r['rounds'][i][name] for r in runs
                    if r['rounds'][i].get(name) is not None
                ]
                entry[name] = round(float(np.mean(values)),
                                    2) if values else None
            results['rounds'].append(entry)
    results['summary'] = summary
    results['runs'] = runs
    return results


def format_results(results: dict) -> str:
    """The results as a plain-text table."""
    n = len(results['runs'])
    tta = results.get('val_tta_setting') or {}
    tta_name = 'val mIoU, ' + ('MS+flip' if tta.get('tta') else
                               'single scale') + (
                                   f' + CRF ({tta["crf"]})'
                                   if tta.get('crf') else '')
    names = dict(
        class_pattern_explained_pct='class patterns: 1st PC variance %',
        cam_pseudo_mask_mIoU='CAM pseudo-mask mIoU (train, configured bg)',
        cam_pseudo_mask_oracle_mIoU='CAM pseudo-mask mIoU (train, oracle bg)',
        refined_pseudo_mask_mIoU='refined pseudo-mask mIoU (train)',
        refined_pseudo_mask_oracle_mIoU='refined pseudo-mask mIoU (oracle)',
        relabelled_pseudo_mask_mIoU='relabelled pseudo-mask mIoU (last round)',
        val_mIoU='val mIoU, single scale',
        val_mIoU_tta=tta_name)
    head = f'| {"result":<46} | {"value":>14} |'
    lines = ['', f'WSSS pipeline results ({n} seed{"s" if n > 1 else ""}: '
             f'{results["seed"]})', head, '-' * len(head)]
    for key, name in names.items():
        value = results.get(key)
        if value is None:
            text = '-'
        elif n > 1:
            text = f'{value:.2f} ± {results["summary"][key]["std"]:.2f}'
        else:
            text = f'{value:.2f}'
        lines.append(f'| {name:<46} | {text:>14} |')
    rounds = results.get('rounds') or []
    if len(rounds) > 1:  # retraining: each round's masks and model
        for entry in rounds:
            for name, value, unit in (
                    ('train-mask mIoU', entry['pseudo_mask_mIoU'], ''),
                    ('pixels filled by relabelling', entry['filled_pct'],
                     ' %'), ('last val mIoU', entry['val_mIoU'], '')):
                if entry['round'] == 0 and name.startswith('pixels'):
                    continue
                text = '-' if value is None else f'{value:.2f}{unit}'
                label = f'round {entry["round"]}: {name}'
                lines.append(f'| {label:<46} | {text:>14} |')
    lines.append('-' * len(head))
    for stage, secs in results['stage_wall_time_s'].items():
        lines.append(f'| {"wall time: " + stage:<46} | '
                     f'{secs:>12.1f} s |')
    lines.append(f'| {"wall time: all stages (sum, per seed)":<46} | '
                 f'{sum(results["stage_wall_time_s"].values()):>12.1f} s |')
    lines.append(f'| {"wall time: total (this invocation)":<46} | '
                 f'{results.get("total_wall_time_s", 0):>12.1f} s |')
    return '\n'.join(lines)
