# Copyright (c) OpenMMLab. All rights reserved.
"""run_tool_in_process: a tool's main(argv) here, as in a new process."""
import io
import multiprocessing
import os
import os.path as osp
import random
import sys
import warnings

import cv2
import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.registry import DefaultScope

from mmwsss.apis import isolated_globals, load_tool, run_tool_in_process
from mmwsss.testing import REPO_ROOT


def _run(main, argv=(), **kwargs):
    log = io.BytesIO()
    code = run_tool_in_process('train.py', argv, log=log, main=main,
                               **kwargs)
    return code, log.getvalue().decode()


def test_exit_codes_and_output():
    def ok(argv):
        print('out', argv)
        print('err', file=sys.stderr)

    assert _run(ok, ['a', 1]) == (0, "out ['a', '1']\nerr\n")

    def exits(code):
        def main(argv):
            print('before')
            sys.exit(code)
        return main

    assert _run(exits(3)) == (3, 'before\n')
    assert _run(exits(None)) == (0, 'before\n')
    # sys.exit('text') prints the text, as Python does, and gives 1
    assert _run(exits('error: bad')) == (1, 'before\nerror: bad\n')

    def raises(argv):
        raise ValueError('the cause')

    code, out = _run(raises)
    assert code == 1
    assert out.startswith('Traceback (most recent call last):\n')
    assert out.endswith('ValueError: the cause\n')

    def interrupted(argv):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(interrupted)


def test_echo(capsys):
    def main(argv):
        print('to both')

    code, out = _run(main, echo=True)
    assert code == 0 and out == 'to both\n'
    assert capsys.readouterr().out == 'to both\n'
    _run(main)
    assert capsys.readouterr().out == ''


def test_mmengine_instances_start_empty_and_are_put_back(tmp_path):
    outside = MessageHub.get_instance('outside_for_test')
    DefaultScope.get_instance('outside_scope_for_test', scope_name='mmseg')
    log_file = str(tmp_path / 'inside.log')
    seen = {}

    def main(argv):
        seen['hub'] = MessageHub.get_current_instance()
        seen['scope'] = DefaultScope.get_current_instance()
        # what a Runner creates, under a name a later run may reuse
        MessageHub.get_instance('runner_for_test').update_info('x', 1)
        logger = MMLogger.get_instance(
            'runner_for_test', log_file=log_file)
        logger.info('logged inside')
        seen['file_handlers'] = [
            h for h in logger.handlers if hasattr(h, 'baseFilename')
        ]

    assert _run(main)[0] == 0
    assert seen['hub'] is not outside  # a fresh one, as in a new process
    assert seen['hub'].instance_name == 'mmengine'
    assert seen['scope'] is None
    assert 'logged inside' in open(log_file).read()
    assert seen['file_handlers']
    assert all(h.stream is None for h in seen['file_handlers'])  # closed
    assert 'runner_for_test' not in MessageHub._instance_dict
    assert 'runner_for_test' not in MMLogger._instance_dict
    assert MessageHub.get_current_instance() is outside
    assert DefaultScope.get_current_instance().instance_name == \
        'outside_scope_for_test'
    # a second run with the same names starts from scratch
    seen.clear()

    def again(argv):
        seen['x'] = MessageHub.get_instance('runner_for_test').get_info('x')

    _run(again)
    assert seen['x'] is None
    MessageHub._instance_dict.pop('outside_for_test')
    DefaultScope._instance_dict.pop('outside_scope_for_test')


def test_process_state_is_restored(tmp_path, monkeypatch):
    monkeypatch.setenv('MMWSSS_IN_PROCESS_TEST', 'before')
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    cwd = os.getcwd()
    argv0 = sys.argv[0]
    method = multiprocessing.get_start_method(allow_none=True)
    cv2_threads = cv2.getNumThreads()
    def seed_and_draw(draw=True):
        torch.manual_seed(5)
        np.random.seed(5)
        random.seed(5)
        if draw:
            return (torch.rand(3).tolist(), np.random.rand(3).tolist(),
                    random.random())

    expected = seed_and_draw()
    seed_and_draw(draw=False)
    seen = {}

    def main(argv):
        seen['cwd'] = os.getcwd()
        seen['argv'] = list(sys.argv)
        os.environ['MMWSSS_IN_PROCESS_TEST'] = 'inside'
        os.environ['LOCAL_RANK'] = '0'  # what the tools' parse_args do
        os.chdir(str(tmp_path))
        multiprocessing.set_start_method(
            'spawn' if method != 'spawn' else 'fork', force=True)
        cv2.setNumThreads(cv2_threads + 3)
        torch.manual_seed(0)
        np.random.seed(0)
        random.seed(0)
        warnings.simplefilter('ignore')

    assert _run(main, ['--x']) == (0, '')
    assert seen == dict(
        cwd=REPO_ROOT, argv=[osp.join(REPO_ROOT, 'tools', 'train.py'), '--x'])
    assert os.environ['MMWSSS_IN_PROCESS_TEST'] == 'before'
    assert 'LOCAL_RANK' not in os.environ
    assert os.getcwd() == cwd and sys.argv[0] == argv0
    assert multiprocessing.get_start_method(allow_none=True) == method
    assert cv2.getNumThreads() == cv2_threads
    # the random states go on from where they were
    assert (torch.rand(3).tolist(), np.random.rand(3).tolist(),
            random.random()) == expected
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn('still shown', UserWarning)
    assert len(caught) == 1


def test_isolated_globals_keeps_the_cwd_when_asked(tmp_path):
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        with isolated_globals(cwd=None):
            assert os.getcwd() == str(tmp_path)
        assert os.getcwd() == str(tmp_path)
    finally:
        os.chdir(cwd)


def test_load_tool():
    train = load_tool('train.py')
    assert train is load_tool('train.py')  # imported once
    assert train.__name__ == 'mmwsss_tool_train'
    args = train.parse_args(['c.py', '--work-dir', 'w', '--seed', '3'])
    assert (args.config, args.work_dir, args.seed) == ('c.py', 'w', 3)
    synthetic = load_tool('misc/make_synthetic_dataset.py')
    assert synthetic.__name__ == 'mmwsss_tool_misc_make_synthetic_dataset'
    with pytest.raises(FileNotFoundError, match='no tool'):
        load_tool('nope.py')


def test_a_tool_error_in_process(tmp_path):
    """tools/train.py with a missing config: exit code 1, the traceback in
    the log, as ``python tools/train.py`` would give."""
    code, out = _run(None, [str(tmp_path / 'missing.py')])
    assert code == 1
    assert 'Traceback' in out and 'missing.py' in out


def test_threads_follow_omp_num_threads_as_in_a_new_process(monkeypatch):
    """A new process starts torch with OMP_NUM_THREADS threads; so does an
    in-process run, and the caller's count comes back afterwards."""
    import torch
    before = torch.get_num_threads()
    seen = []
    for value, expected in (('1', 1), ('3', 3), ('', before)):
        monkeypatch.setenv('OMP_NUM_THREADS', value)
        code = run_tool_in_process(
            'train.py', [],
            main=lambda argv: seen.append(torch.get_num_threads()))
        assert code == 0
        assert seen[-1] == expected
        assert torch.get_num_threads() == before
