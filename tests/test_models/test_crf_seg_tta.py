# Copyright (c) OpenMMLab. All rights reserved.
"""CRFSegTTAModel: mmseg's TTA average, then the stage-2 dense-CRF step."""
import copy
import os.path as osp
import zlib

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from mmwsss.models import CRFSegTTAModel, DenseCRF
from mmwsss.testing import write_tiny_seg_config

TINY_SEG = dict(
    type='EncoderDecoder',
    backbone=dict(
        type='ResNet', depth=18, stem_channels=8, base_channels=8,
        out_indices=(3, )),
    decode_head=dict(
        type='FCNHead', in_channels=64, channels=8, num_convs=1,
        concat_input=False, num_classes=2))


def _image_and_views(tmp_path):
    """A 6x8 image, black left half and white right half, and two views
    whose average says: class 0 on the left, class 1 on the right, except
    one left pixel that is weakly class 1."""
    img = np.zeros((6, 8, 3), np.uint8)
    img[:, 4:] = 255
    path = str(tmp_path / 'img.png')
    Image.fromarray(img).save(path)
    p1 = np.zeros((2, 6, 8), np.float32)
    p1[0, :, :4], p1[1, :, 4:] = 0.9, 0.9
    p1[1, :, :4], p1[0, :, 4:] = 0.1, 0.1
    p1[:, 2, 1] = (0.45, 0.55)  # the noisy pixel
    p2 = p1.copy()
    views = []
    for p in (p1, p2):
        s = SegDataSample(metainfo=dict(img_path=path))
        s.seg_logits = PixelData(data=torch.from_numpy(np.log(p)))
        views.append(s)
    return img, p1, views


def test_merge_without_crf_is_mmseg_average(tmp_path):
    init_default_scope('mmseg')
    img, p, views = _image_and_views(tmp_path)
    model = CRFSegTTAModel(module=TINY_SEG, crf=None)
    out = model.merge_preds([views])[0].pred_sem_seg.data.squeeze()
    expected = p.argmax(0)
    assert expected[2, 1] == 1  # the noisy pixel stays without the CRF
    assert torch.equal(out, torch.from_numpy(expected))


def test_merge_keeps_the_image_id(tmp_path):
    """The writer names files by img_id; mmseg's average drops it."""
    init_default_scope('mmseg')
    for crf in (None, 'psa'):
        _, _, views = _image_and_views(tmp_path)
        for v in views:
            v.set_metainfo(dict(img_id='a/x'))
        model = CRFSegTTAModel(module=TINY_SEG, crf=crf)
        assert model.merge_preds([views])[0].img_id == 'a/x'


def test_merge_with_crf_smooths_the_average(tmp_path):
    init_default_scope('mmseg')
    img, p, views = _image_and_views(tmp_path)
    model = CRFSegTTAModel(module=TINY_SEG, crf='deeplab-v2')
    assert model.crf == DenseCRF(preset='deeplab-v2')
    merged = model.merge_preds([copy.deepcopy(views)])[0]
    out = merged.pred_sem_seg.data.squeeze().numpy()
    # the same as an independent CRF on the averaged softmax of the views
    ref = DenseCRF(preset='deeplab-v2')(img, p).argmax(0)
    assert np.array_equal(out, ref)
    # the CRF follows the image: the noisy pixel joins its black region
    assert out[2, 1] == 0
    assert (out[:, :4] == 0).all() and (out[:, 4:] == 1).all()
    assert torch.allclose(merged.seg_logits.data, torch.from_numpy(p))
    with pytest.raises(TypeError, match='crf must be'):
        CRFSegTTAModel(module=TINY_SEG, crf=3)


def test_crf_needs_the_original_size(tmp_path):
    init_default_scope('mmseg')
    _, _, views = _image_and_views(tmp_path)
    for v in views:
        v.seg_logits = PixelData(data=v.seg_logits.data[:, :5])
    model = CRFSegTTAModel(module=TINY_SEG, crf='psa')
    with pytest.raises(ValueError, match='original image size'):
        model.merge_preds([views])


def _one_view_tta_pipeline(test_pipeline):
    """``[Load, s_1 .. s_n]`` as a one-view ``TestTimeAug`` pipeline."""
    return [
        test_pipeline[0],
        dict(type='TestTimeAug', transforms=[[t] for t in test_pipeline[1:]])
    ]


def test_crf_step_is_the_shared_component():
    """The TTA model's CRF is the stage-2 one: DenseCRFStep, no resize."""
    from mmwsss.models.utils import DenseCRFStep
    init_default_scope('mmseg')
    model = CRFSegTTAModel(module=TINY_SEG, crf='psa')
    assert isinstance(model.crf_step, DenseCRFStep)
    assert model.crf_step.crf == model.crf == DenseCRF('psa')
    assert CRFSegTTAModel(module=TINY_SEG).crf_step is None


def _noisy_oracle(num_classes, flip=0.3):
    """An ``encode_decode`` whose logits are the ground truth with noise:
    p = 0.6 for the mask's class, except on ``flip`` of the pixels (seeded
    by the file) where a random class gets it; the rest share 0.4."""
    from mmseg.models import EncoderDecoder

    def encode_decode(self, inputs, batch_img_metas):
        out = []
        for meta in batch_img_metas:
            path = meta['seg_map_path']
            gt = np.asarray(Image.open(path)).astype(np.int64)
            gt = cv2.resize(gt.astype(np.uint8), inputs.shape[:-3:-1],
                            interpolation=cv2.INTER_NEAREST).astype(np.int64)
            gt[gt == 255] = 0
            rng = np.random.default_rng(zlib.crc32(path.encode()))
            noisy = gt.copy()
            wrong = rng.random(gt.shape) < flip
            noisy[wrong] = rng.integers(0, num_classes, int(wrong.sum()))
            probs = np.full((num_classes, ) + gt.shape,
                            0.4 / (num_classes - 1))
            np.put_along_axis(probs, noisy[None], 0.6, axis=0)
            out.append(torch.from_numpy(np.log(probs)).float())
        return torch.stack(out)

    return EncoderDecoder, 'encode_decode', encode_decode


@pytest.mark.slow
def test_single_scale_crf_path_runs_and_matches_plain_test(
        tmp_path, monkeypatch):
    """A one-view TTA pipeline without CRF gives the plain test's mIoU, and
    ``--tta --cfg-options tta_model.crf=deeplab-v2`` runs the CRF on it:
    its mIoU is the one computed independently, and on noisy ground-truth
    logits the CRF (which follows the image) raises it."""
    path = write_tiny_seg_config(
        str(tmp_path / 'seg.py'), str(tmp_path / 'data'))
    num_classes = 6
    monkeypatch.setattr(*_noisy_oracle(num_classes))
    results = {}
    ckpt = str(tmp_path / 'weights.pth')
    for crf in (None, 'none', 'deeplab-v2'):
        cfg = Config.fromfile(path)
        cfg.work_dir = str(tmp_path / f'w_{crf}')
        cfg.train_dataloader = None
        cfg.train_cfg = cfg.optim_wrapper = cfg.param_scheduler = None
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
        cfg.randomness = dict(seed=0)
        cfg.load_from = None if crf is None else ckpt
        if crf is not None:  # what tools/test.py --tta does
            cfg.tta_model = dict(
                type='CRFSegTTAModel', crf=None if crf == 'none' else crf)
            cfg.tta_pipeline = _one_view_tta_pipeline(
                cfg.test_dataloader.dataset.pipeline)
            cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
            cfg.tta_model.module = cfg.model
            cfg.model = cfg.tta_model
        runner = Runner.from_cfg(cfg)
        results[crf] = runner.test()
        if crf is None:  # the same weights for the other two
            torch.save(dict(state_dict=runner.model.state_dict()), ckpt)
            plain = runner
    assert osp.isdir(str(tmp_path / 'data'))
    assert results['none']['mIoU'] == results[None]['mIoU']
    # the CRF run's mIoU, computed independently of the TTA model, its CRF
    # step and the metric: the plain model's softmax of every test image,
    # pydensecrf (DenseCRF) on the image as cv2 reads it, and the IoU over
    # the split by hand (mmseg's: summed areas, NaN-mean over classes)
    assert plain.model.decode_head.num_classes == num_classes
    inter = np.zeros(num_classes)
    union = np.zeros(num_classes)
    changed = 0
    crf = DenseCRF(preset='deeplab-v2')
    for batch in plain.test_dataloader:
        with torch.no_grad():
            outs = plain.model.test_step(batch)
        for out in outs:
            probs = out.seg_logits.data.softmax(dim=0).numpy()
            image = np.ascontiguousarray(
                cv2.imread(out.img_path, cv2.IMREAD_COLOR)[..., ::-1])
            labels = crf(image, probs).argmax(0)
            changed += int((labels != probs.argmax(0)).sum())
            gt = out.gt_sem_seg.data[0].numpy()
            valid = gt != 255
            for c in range(num_classes):
                pred_c, gt_c = (labels == c) & valid, (gt == c) & valid
                inter[c] += (pred_c & gt_c).sum()
                union[c] += (pred_c | gt_c).sum()
    with np.errstate(invalid='ignore'):
        miou = round(float(np.nanmean(inter / union)) * 100, 2)
    assert changed > 0  # the CRF changed labels of the plain argmax ...
    assert miou > results[None]['mIoU'] + 5  # ... towards the truth
    assert results['deeplab-v2']['mIoU'] == pytest.approx(miou, abs=0.011)
