# Copyright (c) OpenMMLab. All rights reserved.
"""FitModelStateHook: fits a model's state before testing, saves it
atomically, reuses it for the same model config and checkpoint, and reports
the fitting pass's metrics through the message hub."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

from mmwsss.engine import FitModelStateHook
from mmwsss.models import ClassPatternSegmentor, load_class_patterns
from mmwsss.testing import demo_wsss_inputs, tiny_cam_model_cfg

init_default_scope('mmseg')

CLASSES = ('background', 'a', 'b', 'c', 'd', 'e')


class _Images(torch.utils.data.Dataset):
    metainfo = dict(classes=CLASSES)

    def __init__(self):
        data = demo_wsss_inputs(batch_size=4, image_shape=(3, 32, 32),
                                labels=[[1, 2], [3], [4, 5], [1]])
        self.items = [
            dict(inputs=i, data_samples=d)
            for i, d in zip(data['inputs'], data['data_samples'])
        ]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _model(**test_cfg):
    from mmengine.dataset import pseudo_collate
    cfg = tiny_cam_model_cfg()
    cfg.pop('type')
    cfg['test_cfg'] = test_cfg
    loader = torch.utils.data.DataLoader(
        _Images(), batch_size=2, collate_fn=pseudo_collate)
    return ClassPatternSegmentor(
        feature_layer='backbone.layer3', pattern_dataloader=loader, **cfg)


class _Runner:
    """What the hook reads of a runner."""

    _count = 0

    def __init__(self, model, work_dir, checkpoint, sign_rule='cam'):
        _Runner._count += 1
        self.model = model
        self.work_dir = work_dir
        self.cfg = Config(
            dict(
                model=dict(type='ClassPatternSegmentor', sign_rule=sign_rule),
                load_from=checkpoint))
        self.message_hub = MessageHub.get_instance(
            f'fit_model_state_hook_{_Runner._count}')


def _checkpoint(tmp_path, model):
    path = str(tmp_path / 'classifier.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


def test_fit_save_reuse_and_report(tmp_path):
    model = _model()
    ckpt = _checkpoint(tmp_path, model)
    runner = _Runner(model, str(tmp_path), ckpt)
    runner.message_hub.update_info('extra_metrics', dict(other=1.0))
    hook = FitModelStateHook()
    hook.before_test(runner)
    assert model.is_fitted
    state_file = osp.join(str(tmp_path), 'class_patterns.pth')
    saved = load_class_patterns(state_file)
    assert saved['meta']['total_images'] == 4
    assert saved['num_images'].tolist() == [2, 1, 1, 1, 1]
    for key in ('mean', 'pattern', 'count'):
        assert torch.equal(saved[key], getattr(model, 'class_' + key))
    extra = runner.message_hub.get_info('extra_metrics')
    assert extra['other'] == 1.0  # merged, not replaced
    assert extra['class_pattern/num_images'] == 4
    assert extra['class_pattern/classes_without_images'] == 0
    info = json.load(open(osp.join(str(tmp_path), 'class_patterns.json')))
    assert info['metrics'] == {
        k: v
        for k, v in extra.items() if k.startswith('class_pattern/')
    }
    assert not list(tmp_path.rglob('*.tmp'))

    # a rerun with the same model config and checkpoint reuses the file
    again = _model()

    def no_fit():
        raise AssertionError('fitted again')

    again.fit_state = no_fit
    runner2 = _Runner(again, str(tmp_path), ckpt)
    hook.before_test(runner2)
    assert again.is_fitted
    assert torch.equal(again.class_pattern, model.class_pattern)
    assert runner2.message_hub.get_info('extra_metrics') == info['metrics']

    # another config: fitted again; then reused; another checkpoint: fitted
    calls = []

    def counted(sign_rule):
        runner = _Runner(_model(), str(tmp_path), ckpt, sign_rule=sign_rule)
        fit = runner.model.fit_state
        runner.model.fit_state = lambda: calls.append(sign_rule) or fit()
        hook.before_test(runner)

    counted('none')
    counted('none')
    assert calls == ['none']
    torch.save(dict(state_dict={}, meta=dict(x=1)), ckpt)  # other bytes
    counted('none')
    assert calls == ['none', 'none']


def test_nothing_to_fit(tmp_path):
    hook = FitModelStateHook()
    # a model without fitted state
    plain = torch.nn.Linear(2, 2)
    hook.before_test(_Runner(plain, str(tmp_path), None))
    # a model that reads its state from a file
    model = _model(class_patterns=str(tmp_path / 'given.pth'))
    assert model.is_fitted
    model.fit_state = lambda: pytest.fail('fitted')
    hook.before_test(_Runner(model, str(tmp_path), None))
    assert not osp.exists(osp.join(str(tmp_path), 'class_patterns.pth'))
    # save=False writes nothing
    model = _model()
    FitModelStateHook(save=False).before_test(
        _Runner(model, str(tmp_path), None))
    assert model.is_fitted
    assert not osp.exists(osp.join(str(tmp_path), 'class_patterns.pth'))
