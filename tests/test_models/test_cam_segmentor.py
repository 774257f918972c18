# Copyright (c) OpenMMLab. All rights reserved.
import pytest
import torch
from mmengine.model import BaseModule
from mmseg.registry import MODELS

from mmwsss.models import CAMSegmentor
from mmwsss.testing import demo_wsss_inputs, tiny_cam_model_cfg


@MODELS.register_module(force=True)
class _IdentityBackbone(BaseModule):
    """Returns the (normalised) image itself as the only feature map."""

    def forward(self, x):
        return [x]


def _identity_model(**test_cfg):
    """CAM of class 1 = red channel, class 2 = -red channel (normalised)."""
    model = CAMSegmentor(
        backbone=dict(type='_IdentityBackbone'),
        cam_head=dict(type='CAMHead', in_channels=3, num_classes=2),
        data_preprocessor=dict(
            type='SegDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1],
            size_divisor=1),
        test_cfg=test_cfg)
    with torch.no_grad():
        model.cam_head.classifier.weight.copy_(
            torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]]).view(2, 3, 1, 1))
    return model.eval()


def _ramp_batch(labels):
    data = demo_wsss_inputs(
        batch_size=1, image_shape=(3, 4, 8), num_classes=3, labels=[labels])
    img = torch.zeros(3, 4, 8, dtype=torch.uint8)
    img[0] = torch.arange(8, dtype=torch.uint8) * 10  # red ramp 0..70
    data['inputs'] = [img]
    return data


def test_forward_modes_tiny_resnet():
    model = MODELS.build(tiny_cam_model_cfg(num_fg_classes=5))
    data = demo_wsss_inputs(batch_size=2, image_shape=(3, 32, 32))
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_cls', 'acc_cls'}
    assert losses['loss_cls'].item() > 0
    model.eval()
    batch = model.data_preprocessor(data, training=False)
    cams = model(batch['inputs'], mode='tensor')
    assert cams.shape == (2, 5, 4, 4)  # output stride 8
    with torch.no_grad():
        out = model(**batch, mode='predict')
    for ds, src in zip(out, data['data_samples']):
        labels = (torch.nonzero(src.gt_score).flatten() + 1).tolist()
        assert ds.cam_labels.tolist() == labels
        assert ds.cams.shape == (len(labels), 32, 32)
        assert ds.pred_sem_seg.data.shape == (1, 32, 32)
        assert set(ds.pred_sem_seg.data.unique().tolist()) <= set([0] + labels)
        assert ds.pred_score.shape == (5, )
        assert float(ds.cams.max()) <= 1.0
        assert ds.cam_bg_rule == dict(type='threshold', thr=0.15)


def test_predict_values_single_scale():
    model = _identity_model(
        scales=(1.0, ), flip=False, bg=dict(type='threshold', thr=0.5))
    data = _ramp_batch([1])
    batch = model.data_preprocessor(data, training=False)
    ds = model.predict(batch['inputs'], batch['data_samples'])[0]
    # CAM of class 1 = ramp / 70 (+eps); > 0.5 from column 4 (40/70) on
    expected_cam = torch.arange(8.0) * 10 / (70 + 1e-5)
    assert torch.allclose(ds.cams[0, 0], expected_cam, atol=1e-6)
    assert ds.pred_sem_seg.data[0, 0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    # image score: sigmoid of the mean CAM (35 for class 1, -35 for class 2)
    assert ds.pred_score[0].item() == pytest.approx(1.0)
    assert ds.pred_score[1].item() == pytest.approx(0.0, abs=1e-6)


def test_flip_is_consistent():
    """The flipped copy of a linear CAM adds the same map back."""
    single = _identity_model(scales=(1.0, ), flip=False)
    flipped = _identity_model(scales=(1.0, ), flip=True)
    data = _ramp_batch([1])
    batch = single.data_preprocessor(data, training=False)
    a = single.predict(batch['inputs'], batch['data_samples'])[0]
    data = _ramp_batch([1])
    batch = flipped.data_preprocessor(data, training=False)
    b = flipped.predict(batch['inputs'], batch['data_samples'])[0]
    assert torch.allclose(a.cams, b.cams, atol=1e-5)


def test_background_only_image_predicts_background():
    model = _identity_model(scales=(1.0, 0.5), flip=True)
    data = _ramp_batch([])
    batch = model.data_preprocessor(data, training=False)
    ds = model.predict(batch['inputs'], batch['data_samples'])[0]
    assert ds.cams.shape == (0, 4, 8)
    assert torch.count_nonzero(ds.pred_sem_seg.data) == 0


def test_predicted_labels_mode():
    model = _identity_model(
        scales=(1.0, ), flip=False, labels='pred', score_thr=0.5)
    data = _ramp_batch([2])  # the gt label is ignored in 'pred' mode
    batch = model.data_preprocessor(data, training=False)
    ds = model.predict(batch['inputs'], batch['data_samples'])[0]
    assert ds.cam_labels.tolist() == [1]


def test_original_shape_restored():
    model = _identity_model(scales=(1.0, ), flip=False)
    data = _ramp_batch([1])
    data['data_samples'][0].set_metainfo(dict(ori_shape=(8, 16)))
    batch = model.data_preprocessor(data, training=False)
    ds = model.predict(batch['inputs'], batch['data_samples'])[0]
    assert ds.cams.shape == (1, 8, 16)
    assert ds.pred_sem_seg.data.shape == (1, 8, 16)


def test_bad_test_cfg():
    with pytest.raises(ValueError, match='labels'):
        _identity_model(labels='oracle')
    with pytest.raises(ValueError, match='background rule'):
        _identity_model(bg=dict(type='threshold', thr=2))
    with pytest.raises(ValueError, match='scales'):
        _identity_model(scales=())


CAM_KEYS = ('bg, crf, crf_images, crf_sweep, crf_workers, flip, labels, '
            'scales, score_thr')


def _built_with_cfg_options(*options):
    """The tiny CAM model of a config after ``--cfg-options *options``
    (parsed by mmengine's DictAction, as the tools do)."""
    import argparse

    from mmengine.config import Config, DictAction
    from mmengine.registry import init_default_scope
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(['--cfg-options', *options])
    cfg = Config(dict(model=tiny_cam_model_cfg()))
    cfg.merge_from_dict(args.cfg_options)
    init_default_scope('mmseg')
    return MODELS.build(cfg.model)


def test_test_cfg_typo_is_an_error_naming_it():
    """``scalse=`` used to be ignored (the default scales ran)."""
    with pytest.raises(ValueError) as e:
        _identity_model(scalse=(1.0, ))
    assert str(e.value) == (
        "CAMSegmentor test_cfg: unknown key 'scalse' (did you mean "
        f"'scales'?); the known keys are: {CAM_KEYS}")
    with pytest.raises(ValueError) as e:
        _built_with_cfg_options('model.test_cfg.scalse=[1.0]',
                                'model.test_cfg.flp=False')
    assert str(e.value) == (
        "CAMSegmentor test_cfg: unknown keys 'flp', 'scalse' (did you mean "
        "'flip' for 'flp', 'scales' for 'scalse'?); the known keys are: "
        f'{CAM_KEYS}')
    # no close match: only the known keys
    with pytest.raises(ValueError, match=r"unknown key 'mode'; the known"):
        _identity_model(mode='whole')
    # in the background rule too
    with pytest.raises(ValueError) as e:
        _built_with_cfg_options('model.test_cfg.bg.th=0.1')
    assert str(e.value) == (
        "CAMSegmentor test_cfg.bg: unknown key 'th' (did you mean 'thr'?); "
        'the known keys are: alpha, output, thr, type')
    # train_cfg is unused: any key in it is a mistake
    with pytest.raises(ValueError) as e:
        _built_with_cfg_options('model.train_cfg.lr=0.1')
    assert str(e.value) == ("CAMSegmentor train_cfg: unknown key 'lr'; the "
                            'known keys are: none (it is unused)')
    _built_with_cfg_options('model.test_cfg.scales=[1.0]',
                            'model.test_cfg.flip=False')  # known keys pass


@pytest.mark.parametrize('option,message', [
    ('flip=Flase', "flip must be True or False, got 'Flase' (str) "
     '(--cfg-options keeps a value that is not a Python literal as a '
     'string)'),
    ('flip=1', 'flip must be True or False, got 1 (int)'),
    ('score_thr=O.5', "score_thr must be a number, got 'O.5' (str) "
     '(--cfg-options keeps a value that is not a Python literal as a '
     'string)'),
    ('score_thr=True', 'score_thr must be a number, got True (bool)'),
    ('scales=[1.0,x]', "scales must be a list or tuple of numbers, got "
     "[1.0, 'x'] (list) (--cfg-options keeps"),
    ('crf_workers=2.0', 'crf_workers must be an int, got 2.0 (float)'),
    ('crf_sweep=[0.1,O.3]', "crf_sweep must be a list or tuple of numbers, "
     "got [0.1, 'O.3'] (list)"),
    ('bg.thr=O.3', "thr must be a number, got 'O.3' (str)"),
])
def test_test_cfg_values_are_typed(option, message):
    """``--cfg-options model.test_cfg.flip=Flase`` used to give the
    string 'Flase', which is true."""
    # (the tiny config has no bg rule: a valid one first)
    with pytest.raises(TypeError) as e:
        _built_with_cfg_options('model.test_cfg.bg.type=threshold',
                                'model.test_cfg.bg.thr=0.3',
                                'model.test_cfg.' + option)
    where = 'CAMSegmentor test_cfg.bg.' if option.startswith('bg.') else \
        'CAMSegmentor test_cfg.'
    assert str(e.value).startswith(where + message), str(e.value)


def test_missing_labels_in_gt_mode():
    model = _identity_model(scales=(1.0, ), flip=False)
    data = _ramp_batch([1])
    del data['data_samples'][0].gt_score
    batch = model.data_preprocessor(data, training=False)
    with pytest.raises(KeyError, match='needs image-level labels'):
        model.predict(batch['inputs'], batch['data_samples'])


def test_every_parameter_gets_a_gradient():
    model = MODELS.build(tiny_cam_model_cfg(num_fg_classes=3))
    data = demo_wsss_inputs(
        batch_size=2, image_shape=(3, 32, 32), num_classes=4)
    batch = model.data_preprocessor(data, training=True)
    model(**batch, mode='loss')['loss_cls'].backward()
    missing = [
        n for n, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert missing == []


def _ramp_image_file(tmp_path, data):
    """The ramp image as a file, the sample's img_path."""
    import numpy as np
    from PIL import Image
    path = str(tmp_path / 'ramp.png')
    img = data['inputs'][0].permute(1, 2, 0).numpy()  # RGB as packed
    Image.fromarray(np.ascontiguousarray(img)).save(path)
    data['data_samples'][0].set_metainfo(dict(img_path=path))
    return img, path


def test_dense_crf_in_test_cfg(tmp_path):
    """test_cfg.crf refines pred_sem_seg with the CRF of the image, exactly
    as an independent DenseCRF run; crf_sweep adds the CRF'd maps of other
    thresholds. Validation (val_step) skips the CRF."""
    import numpy as np
    from mmwsss.models import DenseCRF, cams_to_probs
    model = _identity_model(
        scales=(1.0, ), flip=False, bg=dict(type='threshold', thr=0.5),
        crf='psa', crf_sweep=[0.2, 0.5])
    data = _ramp_batch([1])
    img, _ = _ramp_image_file(tmp_path, data)
    batch = model.data_preprocessor(data, training=False)
    ds = model.predict(batch['inputs'], batch['data_samples'])[0]
    crf = DenseCRF('psa')
    for thr, pred in ((0.5, ds.pred_sem_seg.data[0]),
                      (0.2, ds.crf_sweep_preds[0]),
                      (0.5, ds.crf_sweep_preds[1])):
        probs = cams_to_probs(ds.cams, dict(type='threshold', thr=thr))
        expected = crf(img, probs.numpy()).argmax(0)
        assert np.array_equal(pred.numpy(), expected), thr
    assert ds.crf_sweep_rules == [
        dict(type='threshold', thr=0.2), dict(type='threshold', thr=0.5)]
    # validation during training scores the maps without the CRF
    data = _ramp_batch([1])
    _ramp_image_file(tmp_path, data)
    out = model.val_step(data)[0]
    assert out.pred_sem_seg.data[0, 0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert 'crf_sweep_preds' not in out
    with pytest.raises(ValueError, match='crf_images'):
        _identity_model(crf='psa', crf_images='many')
