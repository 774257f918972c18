# Copyright (c) OpenMMLab. All rights reserved.
import pytest
from mmengine.config import Config

from mmwsss.apis import apply_common_args, set_data_root, set_resume
from mmwsss.testing import get_config


def test_set_data_root_reaches_every_dataset(tmp_path):
    cfg = get_config('cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py')
    n = set_data_root(cfg, str(tmp_path))
    assert n == 3
    for split in ('train', 'val', 'test'):
        assert cfg[f'{split}_dataloader'].dataset.data_root == str(tmp_path)


def test_set_data_root_follows_wrappers(tmp_path):
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='ConcatDataset',
                    datasets=[
                        dict(type='A', data_root='x'),
                        dict(
                            type='RepeatDataset',
                            dataset=dict(type='B', data_root='y'))
                    ]))))
    assert set_data_root(cfg, 'new') == 2
    ds = cfg.train_dataloader.dataset
    assert ds.datasets[0].data_root == 'new'
    assert ds.datasets[1].dataset.data_root == 'new'
    assert 'data_root' not in ds


def test_apply_common_args(tmp_path):
    cfg = Config(dict(train_dataloader=dict(dataset=dict(data_root='a'))))
    apply_common_args(cfg, data_root=str(tmp_path), seed=7)
    assert cfg.randomness.seed == 7
    with pytest.raises(FileNotFoundError, match='nope'):
        apply_common_args(cfg, data_root=str(tmp_path / 'nope'))


def test_set_data_root_reaches_a_model_dataloader(tmp_path):
    """The data a model fits its state on (the class patterns' draw of the
    MSRC config, wrapped in PerClassDrawDataset) follows --data-root."""
    cfg = get_config('classpattern/classpattern-c41_r18w32-d16_1xb16-2.2k_msrc21-96x96.py')
    assert set_data_root(cfg, str(tmp_path)) == 4
    fit = cfg.model.pattern_dataloader.dataset
    assert fit.type == 'PerClassDrawDataset' and 'data_root' not in fit
    assert fit.dataset.data_root == str(tmp_path)


def test_set_resume_prefers_the_work_dir_over_load_from(tmp_path):
    """--resume continues the work dir's own checkpoint; load_from only
    initialises a run that has none (mmengine alone resumes load_from)."""
    init = str(tmp_path / 'embedding' / 'iter_2200.pth')
    cfg = Config(dict(work_dir=str(tmp_path / 'round'), load_from=init))
    set_resume(cfg, False)
    assert cfg.resume is False and cfg.load_from == init
    set_resume(cfg, True)  # nothing in the work dir yet: start from init
    assert cfg.resume is False and cfg.load_from == init
    (tmp_path / 'round').mkdir()
    own = str(tmp_path / 'round' / 'iter_200.pth')
    (tmp_path / 'round' / 'last_checkpoint').write_text(own)
    set_resume(cfg, True)
    assert cfg.resume is True and cfg.load_from == own
