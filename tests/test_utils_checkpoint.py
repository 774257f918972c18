# Copyright (c) OpenMMLab. All rights reserved.
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

from mmwsss.utils import load_from_local


def test_runner_like_checkpoint_loads_with_weights_only(tmp_path):
    buf = HistoryBuffer()
    buf.update(0.5)
    ckpt = dict(
        meta=dict(seed=np.int64(3), iter=4, classes=('a', 'b')),
        state_dict=dict(w=torch.ones(2)),
        message_hub=dict(log_scalars={'train/loss': buf},
                         runtime_info=dict(arr=np.arange(3))))
    path = str(tmp_path / 'ok.pth')
    torch.save(ckpt, path)
    out = _load_checkpoint(path)  # mmengine's entry point
    assert out['meta']['seed'] == 3
    assert out['message_hub']['log_scalars']['train/loss'].current() == 0.5
    assert torch.equal(out['state_dict']['w'], torch.ones(2))


class _Evil:

    def __reduce__(self):
        return (print, ('code ran',))


def test_arbitrary_globals_are_still_refused(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save({'x': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError, match='allow-list'):
        load_from_local(path)


@pytest.mark.parametrize('content', [b'', b'garbage bytes'])
def test_corrupt_checkpoint(tmp_path, content):
    path = tmp_path / 'bad.pth'
    path.write_bytes(content)
    with pytest.raises(RuntimeError, match=str(path)):
        load_from_local(str(path))


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / 'trunc.pth'
    torch.save({'w': torch.zeros(1000)}, path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(RuntimeError, match='corrupt or truncated'):
        load_from_local(str(path))


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_from_local(str(tmp_path / 'nope.pth'))
