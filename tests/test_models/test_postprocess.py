# Copyright (c) OpenMMLab. All rights reserved.
"""PseudoMaskPostProcessor and DenseCRFStep: stage-2 masks and their CRF."""
import pickle

import numpy as np
# pydensecrf (pydensecrf2) is a hard dependency: without it these tests fail
import pydensecrf.densecrf  # noqa: F401
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from mmwsss.models import DenseCRF, cams_to_probs
from mmwsss.models.utils import (DenseCRFStep, PseudoMaskPostProcessor,
                                 read_image_at)

CAMS = [[[0.1, 0.4, 0.6, 0.9]]]  # class 1 on a 1 x 4 image


def _image(tmp_path, name='im.png'):
    """A 1 x 4 image, black left half, white right half."""
    img = np.zeros((1, 4, 3), dtype=np.uint8)
    img[0, 2:] = 255
    path = str(tmp_path / name)
    Image.fromarray(img).save(path)
    return img, path


def _sample(path, cams=CAMS, labels=(1, ), rule=None, **data):
    ds = SegDataSample(
        metainfo=dict(
            img_path=path,
            cam_bg_rule=rule or dict(type='threshold', thr=0.3)))
    ds.set_data(
        dict(
            cams=torch.tensor(cams, dtype=torch.float32),
            cam_labels=torch.tensor(labels, dtype=torch.int64),
            **data))
    return ds


def _crf_labels(img, probs, preset='psa'):
    """An independent DenseCRF run, argmax-ed."""
    return DenseCRF(preset)(img, probs).argmax(0)


def test_without_crf_is_the_background_rule():
    pp = PseudoMaskPostProcessor()
    ds = pp([_sample('/nonexistent.png')])[0]
    # thr 0.3: [0.1 | 0.4 0.6 0.9] -> [0, 1, 1, 1]
    assert ds.pred_sem_seg.data.tolist() == [[[0, 1, 1, 1]]]
    assert ds.pred_sem_seg.data.dtype == torch.int64
    assert 'crf_sweep_preds' not in ds
    assert 'crf_sweep_rules' not in ds.metainfo
    # the power rule, alpha 1: fg where m > 1 - m
    ds = pp([_sample('/x.png', rule=dict(type='power', alpha=1))])[0]
    assert ds.pred_sem_seg.data.tolist() == [[[0, 0, 1, 1]]]
    # a background-only image
    ds = pp([_sample('/x.png', cams=np.zeros((0, 1, 4)), labels=())])[0]
    assert ds.pred_sem_seg.data.tolist() == [[[0, 0, 0, 0]]]


def test_crf_equals_an_independent_dense_crf(tmp_path):
    img, path = _image(tmp_path)
    pp = PseudoMaskPostProcessor(crf='psa', crf_sweep=[0.3, 0.4, 0.6])
    ds = pp([_sample(path, labels=(2, ))])[0]
    cams = torch.tensor(CAMS)
    expected = {}
    for thr in (0.3, 0.4, 0.6):
        probs = cams_to_probs(cams, dict(type='threshold', thr=thr)).numpy()
        # channel 0 is the background, channel 1 the image's class 2
        expected[thr] = np.array([0, 2])[_crf_labels(img, probs)]
    assert np.array_equal(ds.pred_sem_seg.data[0].numpy(), expected[0.3])
    assert ds.crf_sweep_rules == [
        dict(type='threshold', thr=v) for v in (0.3, 0.4, 0.6)
    ]
    preds = ds.crf_sweep_preds
    assert preds.shape == (3, 1, 4) and preds.dtype == torch.int64
    for k, thr in enumerate((0.3, 0.4, 0.6)):
        assert np.array_equal(preds[k].numpy(), expected[thr])
    # the CRF follows the image: the black half is background
    assert expected[0.3].tolist() == [[0, 0, 2, 2]]
    # an empty sweep still says the CRF ran
    ds = PseudoMaskPostProcessor(crf='psa')([_sample(path)])[0]
    assert ds.crf_sweep_rules == [] and ds.crf_sweep_preds.shape == (0, 1, 4)


def test_with_crf_false_skips_it(tmp_path):
    _, path = _image(tmp_path)
    pp = PseudoMaskPostProcessor(crf='psa', crf_sweep=[0.4])
    ds = pp([_sample(path)], with_crf=False)[0]
    assert ds.pred_sem_seg.data.tolist() == [[[0, 1, 1, 1]]]
    assert 'crf_sweep_preds' not in ds


def test_refiner_background_decides_the_output(tmp_path):
    img, path = _image(tmp_path)
    bg = torch.tensor([[[0.5, 0.5, 0.7, 0.1]]])
    rule = dict(type='threshold', thr=0.3, output='propagated')
    ds = PseudoMaskPostProcessor()([_sample(path, rule=rule, bg_score=bg)])[0]
    # argmax([bg, cam]) = [0, 0, 0, 1]
    assert ds.pred_sem_seg.data.tolist() == [[[0, 0, 0, 1]]]
    pp = PseudoMaskPostProcessor(crf='psa', crf_sweep=[0.3])
    ds = pp([_sample(path, rule=rule, bg_score=bg)])[0]
    cams = torch.tensor(CAMS)
    out = _crf_labels(img, cams_to_probs(cams, rule, bg).numpy())
    assert np.array_equal(ds.pred_sem_seg.data[0].numpy(), out)
    # the sweep is the rule family on the maps, without the refiner's bg
    sweep = _crf_labels(
        img, cams_to_probs(cams, dict(type='threshold', thr=0.3)).numpy())
    assert np.array_equal(ds.crf_sweep_preds[0].numpy(), sweep)


def test_model_mask_crf_keeps_ignored_pixels(tmp_path):
    img, path = _image(tmp_path)
    mask = torch.tensor([[[0, 1, 255, 1]]])
    rule = dict(type='threshold', thr=0.0, output='model')
    pp = PseudoMaskPostProcessor(crf='irn')
    ds = pp([_sample(path, rule=rule, pred_sem_seg=PixelData(data=mask))])[0]
    # the unary: one-hot of the mask over [bg, class 1], uncertain uniform
    probs = np.zeros((2, 1, 4), np.float32)
    probs[0, 0, 0] = probs[1, 0, 1] = probs[1, 0, 3] = 1.0
    probs[:, 0, 2] = 0.5
    ref = _crf_labels(img, probs, 'irn')
    ref[0, 2] = 255
    assert np.array_equal(ds.pred_sem_seg.data[0].numpy(), ref)
    assert ds.pred_sem_seg.data[0, 0, 2] == 255
    # without the CRF the model's mask is kept as is
    ds = PseudoMaskPostProcessor()(
        [_sample(path, rule=rule, pred_sem_seg=PixelData(data=mask))])[0]
    assert ds.pred_sem_seg.data.tolist() == mask.tolist()
    with pytest.raises(KeyError, match="output='model'"):
        PseudoMaskPostProcessor()([_sample(path, rule=rule)])


def test_single_class_images_only(tmp_path):
    img, path = _image(tmp_path)
    two = [[[0.1, 0.4, 0.6, 0.9]], [[0.5, 0.45, 0.2, 0.1]]]
    pp = PseudoMaskPostProcessor(
        crf='psa', crf_images='single_class', crf_sweep=[0.3])
    ds = pp([_sample(path, cams=two, labels=(1, 2))])[0]
    plain = PseudoMaskPostProcessor()(
        [_sample(path, cams=two, labels=(1, 2))])[0]
    # a two-class image keeps its masks, in the sweep too
    assert ds.pred_sem_seg.data.tolist() == plain.pred_sem_seg.data.tolist()
    assert ds.pred_sem_seg.data.tolist() == [[[2, 2, 1, 1]]]
    assert ds.crf_sweep_preds.tolist() == [[[2, 2, 1, 1]]]
    one = pp([_sample(path)])[0]
    probs = cams_to_probs(torch.tensor(CAMS),
                          dict(type='threshold', thr=0.3)).numpy()
    assert np.array_equal(one.pred_sem_seg.data[0].numpy(),
                          _crf_labels(img, probs))
    with pytest.raises(ValueError, match='crf_images'):
        PseudoMaskPostProcessor(crf_images='some')


def test_from_test_cfg_and_errors():
    pp = PseudoMaskPostProcessor.from_test_cfg(
        dict(crf='irn', crf_sweep=[0.1, 0.2], crf_workers=2, bg=None,
             ignore_index=254))
    assert pp.crf == DenseCRF('irn') and pp.step.workers == 2
    assert pp.crf_sweep == (0.1, 0.2) and pp.ignore_index == 254
    assert PseudoMaskPostProcessor.from_test_cfg({}).crf is None
    with pytest.raises(ValueError, match='crf_workers'):
        PseudoMaskPostProcessor(crf='psa', crf_workers=0)
    with pytest.raises(TypeError, match='crf must be'):
        PseudoMaskPostProcessor(crf=3)
    with pytest.raises(KeyError, match='cam_bg_rule'):
        PseudoMaskPostProcessor()([SegDataSample()])


def test_dense_crf_step(tmp_path):
    img, path = _image(tmp_path)
    probs = cams_to_probs(torch.tensor(CAMS),
                          dict(type='threshold', thr=0.5)).numpy()
    step = DenseCRFStep('deeplab-v2')
    out = step(path, [probs, probs[::-1].copy()])
    assert out[0].dtype == np.int64
    assert np.array_equal(out[0], _crf_labels(img, probs, 'deeplab-v2'))
    assert np.array_equal(out[1], 1 - out[0])
    # the image is read at the map's size (bilinear resize) ...
    big = np.repeat(np.repeat(probs, 2, axis=1), 2, axis=2)
    resized = read_image_at(path, (2, 8))
    assert resized.shape == (2, 8, 3)
    assert np.array_equal(
        step(path, [big])[0], _crf_labels(resized, big, 'deeplab-v2'))
    # ... or not at all
    with pytest.raises(ValueError, match='original image size'):
        step(path, [big], resize=False)
    with pytest.raises(FileNotFoundError, match='none.png'):
        step(str(tmp_path / 'none.png'), [probs])
    # the pool does not travel with a pickled step
    assert pickle.loads(pickle.dumps(step)).crf == step.crf


@pytest.mark.slow
def test_worker_pool_gives_the_same_labels(tmp_path):
    img, path = _image(tmp_path)
    rng = np.random.default_rng(0)
    cams = rng.random((2, 1, 4)).astype(np.float32)
    one = PseudoMaskPostProcessor(crf='psa', crf_sweep=[0.2, 0.4, 0.6])
    two = PseudoMaskPostProcessor(
        crf='psa', crf_sweep=[0.2, 0.4, 0.6], crf_workers=2)
    a = one([_sample(path, cams=cams, labels=(1, 3))])[0]
    b = two([_sample(path, cams=cams, labels=(1, 3))])[0]
    two.close()
    assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)
    assert torch.equal(a.crf_sweep_preds, b.crf_sweep_preds)


def test_channel_argmax_is_torch_argmax():
    """The running maximum of cams_to_label gives torch.argmax's indices:
    the first maximal channel, NaN as the maximum, many channels."""
    from mmwsss.models.utils import cam_utils
    torch.manual_seed(0)
    for c in (1, 2, 3, 8, 12):
        x = torch.round(torch.rand(c, 17, 9) * 3) / 3  # many ties
        assert torch.equal(cam_utils.channel_argmax(x), x.argmax(0)), c
    x = torch.rand(3, 4, 4)
    x[1, 0, 0] = float('nan')
    assert torch.equal(cam_utils.channel_argmax(x), x.argmax(0))
    assert cam_utils.channel_argmax(x)[0, 0] == 1
    x = torch.tensor([[[0.3, 0.5]], [[0.3, 0.7]]])
    assert cam_utils.channel_argmax(x).tolist() == [[0, 1]]
