# Copyright (c) OpenMMLab. All rights reserved.
"""Run a tool of ``tools/`` in this process, as if in a new one.

Each stage of a pipeline (and each end-to-end test) used to start a new
Python interpreter, which on a small machine costs more than the tiny runs
themselves (importing torch, mmcv, mmseg and mmpretrain). A tool whose
``main(argv)`` takes its command line can instead be called here:
:func:`run_tool_in_process` gives it what a new process would have and
takes away what it leaves behind:

- mmengine's global instances (every ``ManagerMixin`` subclass:
  ``DefaultScope``, ``MessageHub``, ``MMLogger``, visualizers) start empty
  and are put back afterwards; the loggers the tool created have their
  handlers closed (no open log file stays behind). Two runners started in
  the same second with the same config file name would otherwise share
  one ``MessageHub`` and one logger (mmengine names them by config name
  and time stamp);
- ``sys.argv``, ``os.environ``, the working directory (the repository root,
  as the pipeline's processes use), the random states of ``random``, numpy
  and torch, the warning filters, and what mmengine's Runner sets for its
  process (the multiprocessing start method, the OpenCV and torch thread
  counts) are restored; torch runs with ``OMP_NUM_THREADS`` threads when
  that is set, as a new process would;
- the tool's output (``sys.stdout`` and ``sys.stderr``, hence mmengine's
  logger, progress bars and warnings) goes to a log and, optionally, to the
  console;
- an exception is printed to the log as Python prints it, and gives exit
  code 1; ``sys.exit(code)`` gives ``code``.

What stays: imported modules and what they registered (as in any import),
and a ``torch.distributed`` process group (so this is for one process; a
distributed run needs processes). Output written by C code to the file
descriptors (not through ``sys.stdout``) is not captured.
"""
import contextlib
import importlib.util
import io
import logging
import multiprocessing
import os
import os.path as osp
import random
import sys
import traceback
import warnings
from typing import IO, Callable, Dict, Iterator, List, Optional, Sequence

import cv2
import numpy as np
import torch

__all__ = [
    'REPO_ROOT', 'load_tool', 'scoped_mmengine_instances', 'isolated_globals',
    'run_tool_in_process'
]

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

_TOOLS: Dict[str, object] = {}


def load_tool(tool: str):
    """The module of ``tools/<tool>`` (imported once, not as ``__main__``).

    Args:
        tool (str): The path under ``tools/``, e.g. ``'train.py'`` or
            ``'misc/make_synthetic_dataset.py'``.

    Returns:
        module: The tool's module; its ``main(argv)`` runs it.
    """
    path = osp.join(REPO_ROOT, 'tools', tool)
    if path not in _TOOLS:
        if not osp.isfile(path):
            raise FileNotFoundError(f'no tool {path}')
        name = 'mmwsss_tool_' + osp.splitext(tool)[0].replace(
            '/', '_').replace(osp.sep, '_')
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _TOOLS[path] = module
    return _TOOLS[path]


def _manager_classes() -> List[type]:
    """Every class with its own mmengine global-instance dict."""
    from mmengine.utils import ManagerMixin
    seen, todo = [], [ManagerMixin]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                todo.append(sub)
    return [c for c in seen if '_instance_dict' in vars(c)]


def _close_logger(logger) -> None:
    for handler in list(getattr(logger, 'handlers', [])):
        try:
            handler.close()
        except Exception:  # pragma: no cover - closing is best effort
            pass
        logger.removeHandler(handler)


@contextlib.contextmanager
def scoped_mmengine_instances(hide_existing: bool = True) -> Iterator[None]:
    """mmengine's global instances created inside are dropped on exit.

    Every ``ManagerMixin`` subclass (``DefaultScope``, ``MessageHub``,
    ``MMLogger``, visualizers) keeps its instances by name in a class-level
    dict, and a Runner names its own by config name and time stamp: a
    second Runner of the same config in the same second would get the
    first one's logger (its log file), message hub and visualizer (its
    folder). The instances created inside are dropped on exit (a logger's
    handlers are closed, so no log file stays open) and the earlier ones
    are put back.

    Args:
        hide_existing (bool): Start with no instance, as a new process
            does. False keeps the existing ones visible inside (only what
            is created inside is dropped). Defaults to True.
    """
    saved = {cls: cls._instance_dict.copy() for cls in _manager_classes()}
    if hide_existing:
        for cls in saved:
            cls._instance_dict.clear()
    try:
        yield
    finally:
        for cls in _manager_classes():
            before = saved.get(cls, {})
            current = cls._instance_dict
            for name, instance in current.items():
                if before.get(name) is not instance and isinstance(
                        instance, logging.Logger):
                    _close_logger(instance)
            current.clear()
            current.update(before)


@contextlib.contextmanager
def isolated_globals(argv0: Optional[str] = None,
                     cwd: Optional[str] = REPO_ROOT,
                     argv: Sequence[str] = ()) -> Iterator[None]:
    """What a new process would start with, restored on exit.

    mmengine's global instances start empty (and those created inside are
    dropped, their log handlers closed: :func:`scoped_mmengine_instances`);
    ``os.environ``, ``sys.argv``, the working directory, the random states,
    the warning filters, the multiprocessing start method and the OpenCV
    and torch thread counts are restored.

    Args:
        argv0 (str, optional): ``sys.argv[0]`` inside. Defaults to the
            current one.
        cwd (str, optional): The working directory inside; None keeps it.
            Defaults to the repository root.
        argv (Sequence[str]): ``sys.argv[1:]`` inside.
    """
    saved_env = dict(os.environ)
    saved_argv = list(sys.argv)
    saved_cwd = os.getcwd()
    saved_rng = (random.getstate(), np.random.get_state(),
                 torch.get_rng_state())
    # what mmengine's Runner sets for the process (setup_env)
    saved_start_method = multiprocessing.get_start_method(allow_none=True)
    saved_cv2_threads = cv2.getNumThreads()
    saved_torch_threads = torch.get_num_threads()
    sys.argv = [argv0 or saved_argv[0]] + list(argv)
    # a new process starts torch with OMP_NUM_THREADS threads; float sums
    # depend on the thread count, so an in-process run that must equal a
    # process run gets the same number
    threads = os.environ.get('OMP_NUM_THREADS', '')
    if threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))
    try:
        if cwd is not None:
            os.chdir(cwd)
        # the warning filters are restored too
        with scoped_mmengine_instances(), warnings.catch_warnings():
            yield
    finally:
        os.chdir(saved_cwd)
        sys.argv = saved_argv
        if dict(os.environ) != saved_env:
            os.environ.clear()
            os.environ.update(saved_env)
        random.setstate(saved_rng[0])
        np.random.set_state(saved_rng[1])
        torch.set_rng_state(saved_rng[2])
        if multiprocessing.get_start_method(
                allow_none=True) != saved_start_method:
            multiprocessing.set_start_method(saved_start_method, force=True)
        cv2.setNumThreads(saved_cv2_threads)
        if torch.get_num_threads() != saved_torch_threads:
            torch.set_num_threads(saved_torch_threads)


class _Tee(io.TextIOBase):
    """A text stream that writes to a binary log and, optionally, on."""

    def __init__(self, log: IO[bytes], echo: Optional[IO] = None) -> None:
        super().__init__()
        self._log = log
        self._echo = echo

    @property
    def encoding(self) -> str:
        return 'utf-8'

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        self._log.write(text.encode('utf-8', errors='replace'))
        if self._echo is not None:
            self._echo.write(text)
        return len(text)

    def flush(self) -> None:
        self._log.flush()
        if self._echo is not None:
            self._echo.flush()


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # what Python does with sys.exit('text')
    return 1


def run_tool_in_process(tool: str,
                        argv: Sequence[str],
                        log: Optional[IO[bytes]] = None,
                        echo: bool = False,
                        cwd: Optional[str] = REPO_ROOT,
                        main: Optional[Callable] = None) -> int:
    """Run ``tools/<tool>``'s ``main(argv)`` here, as a new process would.

    See the module docstring for what is isolated.

    Args:
        tool (str): The path under ``tools/``, e.g. ``'train.py'``.
        argv (Sequence[str]): The command line after the script.
        log (IO[bytes], optional): Where the tool's output goes (a binary
            file or ``io.BytesIO``). Defaults to None (discarded).
        echo (bool): Also write the output to this process's stdout.
            Defaults to False.
        cwd (str, optional): The working directory of the run. Defaults to
            the repository root (that of the pipeline's processes); None
            keeps the current one.
        main (Callable, optional): Call this instead of the tool's
            ``main`` (tests). Defaults to None.

    Returns:
        int: The exit code a process would have had: 0; the code of
        ``sys.exit``; 1 after an exception (its traceback is in the log).
        ``KeyboardInterrupt`` is not caught.
    """
    if main is None:
        main = load_tool(tool).main
    log = log if log is not None else io.BytesIO()
    echo_to = sys.stdout if echo else None
    out = _Tee(log, echo_to)
    argv = [str(a) for a in argv]
    script = osp.join(REPO_ROOT, 'tools', tool)
    with isolated_globals(argv0=script, cwd=cwd, argv=argv), \
            contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(out):
        try:
            main(argv)
            code = 0
        except SystemExit as e:
            code = _exit_code(e)
        except Exception:
            traceback.print_exc(file=out)
            code = 1
        finally:
            out.flush()
    return code
