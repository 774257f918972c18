# Copyright (c) OpenMMLab. All rights reserved.
"""Run the tools of ``tools/`` from tests: in-process, or as a script."""
import io
import os
import socket
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

from ._utils import REPO_ROOT

__all__ = [
    'run_tool', 'run_script', 'run_scripts', 'start_script', 'free_port'
]


def run_tool(tool: str,
             args: Sequence[str],
             check: bool = True) -> Tuple[int, str]:
    """``tools/<tool>``'s ``main(args)`` in this process, as a new process
    would run it (:func:`~mmwsss.apis.run_tool_in_process`).

    Args:
        tool (str): The path under ``tools/``, e.g. ``'train.py'``.
        args (Sequence[str]): Its command line.
        check (bool): Raise unless the exit code is 0. Defaults to True.

    Returns:
        tuple[int, str]: The exit code and the output (stdout and stderr,
        with the traceback of an exception).

    Raises:
        AssertionError: With ``check``, when the tool failed (with the last
            4000 characters of its output).
    """
    from mmwsss.apis import run_tool_in_process
    log = io.BytesIO()
    code = run_tool_in_process(tool, args, log=log)
    out = log.getvalue().decode(errors='replace')
    if check:
        assert code == 0, f'{tool} exited with {code}:\n{out[-4000:]}'
    return code, out


def free_port() -> str:
    """A free TCP port of 127.0.0.1 (for ``torch.distributed``)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def _script_env(env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    full_env = dict(os.environ)
    full_env['PYTHONPATH'] = os.pathsep.join(
        [REPO_ROOT] + [p for p in [full_env.get('PYTHONPATH')] if p])
    full_env.setdefault('OMP_NUM_THREADS', '1')
    full_env['PORT'] = free_port()
    full_env.update(env or {})
    return full_env


def run_scripts(cmds: Dict[str, List[str]],
                timeout: float = 600) -> Dict[str, Tuple[int, str]]:
    """Run several command lines at once (as :func:`run_script`).

    Their start-ups (importing torch, mmseg...) are most of the time of a
    tool's smoke test; at once, they share the cores.

    Args:
        cmds (dict): ``{name: command}``.
        timeout (float): Seconds for all. Defaults to 600.

    Returns:
        dict: ``{name: (exit code, stdout + stderr)}``.
    """
    procs = {
        name: subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=_script_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True)
        for name, cmd in cmds.items()
    }
    results = {}
    try:
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=timeout)
            results[name] = (proc.returncode, out)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def start_script(cmd: List[str],
                 env: Optional[Dict[str, str]] = None,
                 timeout: float = 600) -> Future:
    """Start a command line (as :func:`run_script`) and return at once.

    The process runs while this one does other work (e.g. the same run
    in-process, on the other core); its environment is fixed now.

    Returns:
        concurrent.futures.Future: Its ``result()`` is ``(exit code,
        stdout + stderr)``.
    """
    full_env = _script_env(env)

    def run() -> Tuple[int, str]:
        proc = subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout)
        return proc.returncode, proc.stdout + proc.stderr

    executor = ThreadPoolExecutor(max_workers=1)
    try:
        return executor.submit(run)
    finally:
        executor.shutdown(wait=False)


def run_script(cmd: List[str],
               check: bool = True,
               env: Optional[Dict[str, str]] = None,
               timeout: float = 600) -> Tuple[int, str]:
    """Run a command line in the repository root, as a user would.

    The environment has this repository first on ``PYTHONPATH`` (so the
    checkout's ``mmwsss`` is imported), one OpenMP thread per process, and
    a free ``PORT`` for ``tools/dist_*.sh``.

    Args:
        cmd (list[str]): The command, e.g. ``[sys.executable,
            'tools/train.py', ...]``.
        check (bool): Raise unless the exit code is 0. Defaults to True.
        env (dict, optional): More environment variables.
        timeout (float): Seconds. Defaults to 600.

    Returns:
        tuple[int, str]: The exit code and stdout + stderr.
    """
    proc = subprocess.run(
        cmd,
        cwd=REPO_ROOT,
        env=_script_env(env),
        capture_output=True,
        text=True,
        timeout=timeout)
    out = proc.stdout + proc.stderr
    if check:
        assert proc.returncode == 0, \
            f'{cmd} exited with {proc.returncode}:\n{out[-4000:]}'
    return proc.returncode, out
