# Copyright (c) OpenMMLab. All rights reserved.
"""Running the stages of a pipeline: processes, resume, stage configs."""
import datetime
import errno
import hashlib
import json
import os
import os.path as osp
import shlex
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

from mmengine.config import Config

from mmwsss.apis.in_process import run_tool_in_process
from mmwsss.utils.io import atomic_write_bytes
from .report import format_results, summarise_runs
from .stages import STAGE_KINDS, PipelineError
from .summary import SUMMARY_DEFAULTS, write_summary

__all__ = ['PipelineRunner', 'WSSSPipeline', 'WorkDirLock', 'stage_config']

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
STAGE_CONFIG = 'stage_config.py'
#: The lock file of a work dir (see :class:`WorkDirLock`).
LOCK_FILE = 'pipeline.lock'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _read_json(path: str) -> Optional[dict]:
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def stage_config(config: str, options: Dict) -> Config:
    """A stage's config: ``config`` with ``options`` merged in.

    ``options`` are dotted keys as in ``--cfg-options`` (list indices
    allowed), merged with :meth:`mmengine.config.Config.merge_from_dict`,
    the method behind ``--cfg-options``. The values are used as given:
    paths keep every character (spaces, quotes, non-ASCII), unlike a
    ``--cfg-options`` command line, whose parser drops spaces.

    Args:
        config (str): The stage's config file.
        options (dict): Dotted keys and their values.

    Returns:
        Config: The merged config.
    """
    cfg = Config.fromfile(config)
    if options:
        cfg.merge_from_dict(dict(options), allow_list_keys=True)
    return cfg


class WorkDirLock:
    """One pipeline run per work dir: an exclusive lock on
    ``<work_dir>/pipeline.lock``.

    The lock is an ``fcntl.flock`` on the open file, so the kernel releases
    it when the holder exits in any way (end, exception, ``kill -9``, a
    crash): a stale lock file never blocks a later run. While held, the
    file holds its holder (pid, host, command, start time, as JSON), which
    the run that is refused names. On file systems where ``flock`` is not
    supported the run goes on without a lock, with a warning.

    Use as a context manager::

        with WorkDirLock(work_dir):
            ...

    Args:
        work_dir (str): The work dir (created if needed).

    Raises:
        PipelineError: On entering, when another process holds the lock.
    """

    def __init__(self, work_dir: str) -> None:
        self.work_dir = osp.abspath(work_dir)
        self.path = osp.join(self.work_dir, LOCK_FILE)
        self._fd: Optional[int] = None

    @staticmethod
    def holder_info() -> dict:
        """What the lock file says about this process."""
        return dict(
            pid=os.getpid(),
            host=socket.gethostname(),
            command=shlex.join([osp.basename(sys.executable)] + sys.argv),
            started=datetime.datetime.now().astimezone().isoformat(
                timespec='seconds'))

    def _holder_text(self, fd: int) -> str:
        try:
            raw = os.pread(fd, 65536, 0).decode(errors='replace')
            info = json.loads(raw)
            return (f"pid {info['pid']} on {info['host']}, started "
                    f"{info['started']}, command: {info['command']}")
        except (OSError, ValueError, KeyError, TypeError):
            return 'a process that has not written its details yet'

    def acquire(self) -> None:
        """Take the lock or raise :class:`PipelineError` naming the holder."""
        if self._fd is not None:
            return
        os.makedirs(self.work_dir, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is None:  # pragma: no cover - not POSIX
            os.close(fd)
            print('[pipeline] warning: no fcntl on this system, the work '
                  'dir is not locked', flush=True)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            try:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    holder = self._holder_text(fd)
                    raise PipelineError(
                        f'the work dir {self.work_dir} is in use by another '
                        f'pipeline run: {holder}. Two runs in one work dir '
                        'would run every stage twice; wait for that run to '
                        'end (or stop it) and rerun, or use another '
                        f'--work-dir. (lock file: {self.path})') from None
                print(f'[pipeline] warning: cannot lock {self.path} ({e}); '
                      'running without a lock', flush=True)
                return
            finally:
                os.close(fd)
        text = json.dumps(self.holder_info())
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (the file stays, empty)."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:  # pragma: no cover - nothing to tidy then
            pass
        os.close(self._fd)  # closing the file releases the lock
        self._fd = None

    def __enter__(self) -> 'WorkDirLock':
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class PipelineRunner:
    """Run the stages of one pipeline config for one or more seeds.

    For each seed, every stage runs in order in its own process (so a
    failure cannot leave a half-initialised registry or process group
    behind; ``in_process`` runs them in this one instead), in
    ``work_dir/seed_<s>/<stage>/``:

    1. its inputs (outputs of earlier stages) and ``cfg_options`` are merged
       into its config, which is written to ``<stage>/stage_config.py``
       (the exact config the stage ran; rerun it by hand with the tools);
    2. the kind runs its tool on that file (output in ``<stage>/stage.log``,
       echoed unless ``quiet``);
    3. ``<stage>/stage.json`` is written (atomically) with the stage's
       outputs, metrics, wall time and signature.

    After the stages of a seed, ``work_dir/seed_<s>/summary.png`` shows the
    same images across every stage that wrote masks and the per-class IoU
    of each (:func:`~mmwsss.apis.pipeline.summary.write_summary`; the
    pipeline config's ``summary`` sets its options, ``summary=None``
    turns it off). A failure to draw it is reported, not fatal.

    A rerun skips every stage that has its ``stage.json`` when its
    signature (kind, the merged config's content, inputs, kind settings,
    seed, data root) is unchanged, and stops with a clear message when it
    has changed, instead of mixing results of two settings. An interrupted
    stage resumes (a training from its last checkpoint, a test from its
    last finished image). One run at a time uses a work dir: a second
    one stops at once, naming the first (:class:`WorkDirLock`). The
    reported metrics of all stages go to
    ``work_dir/results.json`` and are printed as a table
    (:mod:`~mmwsss.apis.pipeline.report`).

    Args:
        cfg (Config): From :func:`load_pipeline_config`.
        work_dir (str): Where every stage writes and where ``results.json``
            goes.
        nproc (int, optional): Processes per stage; overrides the config's
            ``nproc``.
        seeds (Sequence[int], optional): Overrides ``seed``/``repeat``.
        quiet (bool): Only write the stages' output to their log files.
        python (str): The Python interpreter of the stage processes.
        in_process (bool): Run the tools of the built-in kinds in this
            process (their ``main(argv)``, through
            :func:`~mmwsss.apis.run_tool_in_process`, which gives each the
            fresh mmengine state of a new process) instead of a new Python
            process per stage. It saves an interpreter start-up per stage
            (seconds each, most of a tiny stage); the stage configs, logs,
            outputs and records are the same. Needs ``nproc=1``. Defaults
            to False.
    """

    def __init__(self,
                 cfg: Config,
                 work_dir: str,
                 nproc: Optional[int] = None,
                 seeds: Optional[Sequence[int]] = None,
                 quiet: bool = False,
                 python: str = sys.executable,
                 in_process: bool = False) -> None:
        self.cfg = cfg
        self.stages = [dict(s) for s in cfg.get('stages', [])]
        self.work_dir = osp.abspath(work_dir)
        self.nproc = int(nproc if nproc is not None else cfg.get('nproc', 1))
        if seeds is None:
            first = int(cfg.get('seed', 0))
            seeds = [first + i for i in range(int(cfg.get('repeat', 1)))]
        self.seeds = [int(s) for s in seeds]
        self.quiet = quiet
        self.python = python
        self.in_process = bool(in_process)
        if self.in_process and self.nproc > 1:
            raise PipelineError(
                f'in_process runs every stage in this one process; it '
                f'cannot run {self.nproc} processes per stage (nproc). Use '
                'nproc=1 or run the stages as processes')
        self.data_root = cfg.get('data_root')
        summary = cfg.get('summary', {})
        self.summary = None if summary is None else {
            **SUMMARY_DEFAULTS,
            **summary
        }

    # ------------------------------------------------------------------
    # what stage kinds use
    read_json = staticmethod(_read_json)

    def common_args(self) -> List[str]:
        """Arguments every tool takes (``--data-root``)."""
        return ['--data-root', self.data_root] if self.data_root else []

    def command(self, tool: str, args: List[str]) -> List[str]:
        """The command line of ``tools/<tool>`` (distributed when nproc>1)."""
        script = osp.join(REPO_ROOT, 'tools', tool)
        if self.nproc > 1:
            return [
                self.python, '-m', 'torch.distributed.run',
                f'--nproc_per_node={self.nproc}',
                f'--master_port={_free_port()}', script, *args, '--launcher',
                'pytorch'
            ]
        return [self.python, script, *args]

    def run_tool(self, name: str, tool: str, args: List[str],
                 stage_dir: str) -> None:
        """Run ``tools/<tool>`` with ``args`` for stage ``name``.

        In a new process (:meth:`run_process` of :meth:`command`), or with
        ``in_process`` in this one (:meth:`run_in_process`).
        """
        if self.in_process:
            self.run_in_process(name, tool, args, stage_dir)
        else:
            self.run_process(name, self.command(tool, args), stage_dir)

    def run_in_process(self, name: str, tool: str, args: List[str],
                       stage_dir: str) -> None:
        """Call ``tools/<tool>``'s ``main(args)`` in this process.

        Its output goes to ``stage.log`` (and the console unless
        ``quiet``), after the command line it stands for.

        Raises:
            PipelineError: When it fails (an exception, or a non-zero
                ``sys.exit``), with the log's last lines.
        """
        log_path = osp.join(stage_dir, 'stage.log')
        cmd = self.command(tool, args)
        with open(log_path, 'ab') as log:
            log.write(('$ ' + ' '.join(cmd) + '  # in process\n').encode())
            log.flush()
            code = run_tool_in_process(
                tool, args, log=log, echo=not self.quiet, cwd=REPO_ROOT)
        if code != 0:
            self._failed(name, f'exit code {code}, in process', log_path)

    def _failed(self, name: str, why: str, log_path: str) -> None:
        with open(log_path, errors='replace') as f:
            tail = ''.join(f.read().replace('\r', '\n').splitlines(
                keepends=True)[-15:])
        raise PipelineError(
            f'stage `{name}` failed ({why}); its full log is '
            f'{log_path}. Fix the cause and rerun the same command: '
            'finished stages are skipped. Last lines:\n' + tail)

    def run_process(self, name: str, cmd: List[str], stage_dir: str) -> None:
        """Run ``cmd``; its output goes to ``stage.log`` (and the console).

        Raises:
            PipelineError: When it fails, with the log's last lines.
        """
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
            self._failed(name, f'exit code {code}', log_path)

    # ------------------------------------------------------------------
    def _prepare(self, stage: dict, records: Dict[str, dict],
                 seed: int) -> tuple:
        """Resolve inputs; build the stage config text and the signature."""
        kind = STAGE_KINDS.get(stage['kind'])
        args, options = {}, dict(stage.get('cfg_options') or {})
        for key, ref in stage.get('inputs', {}).items():
            src, output = ref.split('.')
            value = records[src]['outputs'][output]
            if key in kind.input_args:
                args[key] = value
            else:
                options[key] = value
        try:
            cfg = stage_config(stage['config'], options)
        except Exception as e:
            raise PipelineError(
                f"stage `{stage['name']}`: cannot apply its inputs/"
                f"cfg_options {sorted(options)} to {stage['config']}: "
                f'{e}') from e
        text = cfg.pretty_text
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        settings = {k: stage[k] for k in kind.settings}
        signature = json.loads(
            json.dumps(
                dict(
                    kind=stage['kind'],
                    config=stage['config'],
                    config_sha256=digest,
                    args=args,
                    settings=settings,
                    seed=seed,
                    data_root=self.data_root)))
        return kind, args, cfg, text, signature

    def _write_stage_config(self, cfg: Config, text: str,
                            stage_dir: str) -> str:
        """Write the merged config; check it reads back identically."""
        path = osp.join(stage_dir, STAGE_CONFIG)
        atomic_write_bytes(path, text.encode())
        back = Config.fromfile(path)
        if back.to_dict() != cfg.to_dict():
            raise PipelineError(
                f'the stage config {path} does not read back as the merged '
                'config it was written from (a value mmengine cannot write '
                'as Python text?); please report this')
        return path

    def _stage(self, stage: dict, run_dir: str, records: Dict[str, dict],
               seed: int) -> dict:
        """Run one stage unless it finished before with the same settings."""
        name = stage['name']
        kind, args, cfg, text, signature = self._prepare(stage, records, seed)
        stage_dir = osp.join(run_dir, name)
        done_file = osp.join(stage_dir, 'stage.json')
        done = _read_json(done_file)
        if done is not None:
            if done.get('signature') != signature:
                raise PipelineError(
                    f'stage `{name}` in {stage_dir} was finished with other '
                    f'settings ({done.get("signature")}) than now '
                    f'({signature}). Delete {stage_dir} and the folders '
                    'of the stages after it to rerun them, or use another '
                    '--work-dir.')
            print(f'[pipeline] {name}: done before ({done_file}), skipped',
                  flush=True)
            return done
        os.makedirs(stage_dir, exist_ok=True)
        print(f'[pipeline] {name}: running (log: {stage_dir}/stage.log)',
              flush=True)
        start = time.time()
        path = self._write_stage_config(cfg, text, stage_dir)
        result = kind.run(self, stage, stage_dir, args, path, seed)
        record = dict(
            stage=name,
            kind=stage['kind'],
            config=stage['config'],
            stage_config=path,
            seed=seed,
            outputs=result['outputs'],
            metrics=result.get('metrics') or {},
            wall_time_s=round(time.time() - start, 1),
            signature=signature)
        atomic_write_bytes(done_file, json.dumps(record, indent=2).encode())
        print(f'[pipeline] {name}: finished in {record["wall_time_s"]:.1f} s',
              flush=True)
        return record

    def run_seed(self, seed: int) -> dict:
        """Run (or resume) every stage for one seed.

        Returns:
            dict: ``seed``, each reported result, ``stage_metrics`` (all
            metrics of every stage) and ``stage_wall_time_s``.
        """
        run_dir = osp.join(self.work_dir, f'seed_{seed}')
        os.makedirs(run_dir, exist_ok=True)
        records: Dict[str, dict] = {}
        for stage in self.stages:
            records[stage['name']] = self._stage(stage, run_dir, records,
                                                 seed)
        self.write_summary(run_dir, records)
        run = dict(seed=seed)
        for stage in self.stages:
            metrics = records[stage['name']]['metrics']
            for key, rep in stage['report'].items():
                run[key] = metrics.get(rep['metric'])
        run['stage_metrics'] = {k: v['metrics'] for k, v in records.items()}
        run['stage_wall_time_s'] = {
            k: v['wall_time_s']
            for k, v in records.items()
        }
        return run

    def write_summary(self, run_dir: str, records: Dict[str, dict]) -> None:
        """``<run_dir>/summary.png`` (unless ``summary=None``); a failure
        is printed as a warning: the stages' results stand without it."""
        if self.summary is None:
            return
        try:
            write_summary(records, osp.join(run_dir, 'summary.png'),
                          **self.summary)
        except Exception as e:  # noqa: BLE001 - a picture must not fail a run
            print(f'[pipeline] warning: the summary picture was not drawn: '
                  f'{type(e).__name__}: {e}', flush=True)

    def result_labels(self) -> Dict[str, str]:
        """Result key -> table label, in stage order."""
        return {
            key: rep['label']
            for stage in self.stages for key, rep in stage['report'].items()
        }

    def run(self) -> dict:
        """Run every seed, write ``results.json`` and return its content.

        Raises:
            PipelineError: When another run holds the work dir, or a stage
                fails.
        """
        with WorkDirLock(self.work_dir):
            return self._run()

    def _run(self) -> dict:
        start = time.time()
        runs = [self.run_seed(s) for s in self.seeds]
        results = summarise_runs(runs, self.result_labels())
        results['nproc'] = self.nproc
        results['total_wall_time_s'] = round(time.time() - start, 1)
        atomic_write_bytes(
            osp.join(self.work_dir, 'results.json'),
            json.dumps(results, indent=2).encode())
        print(format_results(results), flush=True)
        print(f'[pipeline] results written to '
              f'{osp.join(self.work_dir, "results.json")}', flush=True)
        return results


#: The name of earlier releases.
WSSSPipeline = PipelineRunner
