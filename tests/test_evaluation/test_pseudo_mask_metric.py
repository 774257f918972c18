# Copyright (c) OpenMMLab. All rights reserved.
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.evaluation import IoUMetric
from mmseg.structures import SegDataSample
from PIL import Image

from mmwsss.evaluation import PseudoMaskMetric, otsu_threshold
from mmwsss.evaluation.metrics import pseudo_mask_metric as pmm
from mmwsss.models import DenseCRF, cams_to_label, cams_to_probs
from mmwsss.models.utils import PseudoMaskPostProcessor

META = dict(
    classes=('background', 'a', 'b'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0]])


def _sample(img_path='/nonexistent/x.jpg', rule=None, bg_score=None,
            **postprocess):
    """GT [0, 0, 1, 1]; CAM of class 1 = [0.1, 0.4, 0.6, 0.9], through the
    stage-2 post-processor (as a model's prediction), as a metric sees it."""
    ds = SegDataSample(
        metainfo=dict(
            img_path=img_path,
            cam_bg_rule=rule or dict(type='threshold', thr=0.3)))
    ds.set_data(
        dict(
            cams=torch.tensor([[[0.1, 0.4, 0.6, 0.9]]]),
            cam_labels=torch.tensor([1]),
            gt_sem_seg=PixelData(data=torch.tensor([[[0, 0, 1, 1]]]))))
    if bg_score is not None:
        ds.bg_score = bg_score
    PseudoMaskPostProcessor(**postprocess)([ds])
    return ds.to_dict()


def _metric(**kwargs):
    m = PseudoMaskMetric(**kwargs)
    m.dataset_meta = META
    return m


def _image(tmp_path):
    img = np.zeros((1, 4, 3), dtype=np.uint8)
    img[0, 2:] = 255
    path = str(tmp_path / 'im.png')
    Image.fromarray(img).save(path)
    return img, path


def test_sweep_values_by_hand():
    metric = _metric(sweep=[0.05, 0.3, 0.4, 0.6])
    metric.process({}, [_sample()])
    res = metric.compute_metrics(metric.results)
    # configured thr 0.3 -> pred [0,1,1,1]: IoU bg 1/2, a 2/3, b absent (nan)
    assert res['mIoU'] == pytest.approx(100 * (0.5 + 2 / 3) / 2, abs=0.01)
    # 0.4 -> [0,0,1,1] exact: the oracle (first best value)
    assert res['oracle_bg'] == pytest.approx(0.4)
    assert res['oracle_mIoU'] == pytest.approx(100.0)
    # Otsu on the CAM maxima {0.1, 0.4, 0.6, 0.9}: the between-class
    # variance is largest for the split {0.1, 0.4} | {0.6, 0.9}; the first
    # bin edge achieving it is 0.41, whose nearest swept value is 0.4
    t = otsu_threshold(
        np.histogram([0.1, 0.4, 0.6, 0.9], bins=100, range=(0, 1))[0])
    assert t == pytest.approx(0.41)
    assert res['gt_free_bg'] == pytest.approx(0.4)
    assert res['gt_free_mIoU'] == pytest.approx(100.0)
    assert res['output_ignored_pct'] == 0.0
    assert 'oracle_mIoU_crf' not in res
    # the sweep, for MaskGridHook's curve: thr 0.05 -> all class a: IoU bg
    # 0, a 1/2; 0.3 -> 58.33; 0.4 -> 100; 0.6 -> [0,0,0,1]: bg 2/3, a 1/2
    from mmengine.logging import MessageHub
    info = MessageHub.get_current_instance().get_info(pmm.SWEEP_INFO)
    assert info['values'] == [0.05, 0.3, 0.4, 0.6]
    assert info['miou'] == pytest.approx([25.0, 58.33, 100.0, 58.33],
                                         abs=0.01)
    assert info['marks'] == dict(configured=1, oracle=2, gt_free=2)
    assert info['miou_crf'] is None
    assert info['xlabel'] == 'background threshold'


def test_power_rule_sweep():
    rule = dict(type='power', alpha=1)
    metric = _metric(sweep=[1, 2])
    metric.process({}, [_sample(rule=rule)])
    res = metric.compute_metrics(metric.results)
    # alpha 1: bg = 1 - m -> fg where m > 0.5 -> [0,0,1,1] -> 100
    assert res['mIoU'] == pytest.approx(100.0)
    # alpha 2: fg where m > (1-m)^2 i.e. m > 0.382 -> [0,1,1,1]
    assert res['oracle_bg'] == 1.0


def test_otsu_bimodal():
    hist = np.zeros(100)
    hist[10] = 50
    hist[80] = 50
    t = otsu_threshold(hist)
    assert 0.1 < t <= 0.8
    assert otsu_threshold(np.zeros(10)) == 0.5


def _reference_stats(cams, labels, rules, gt, num_classes, ignore_index):
    """mmseg's intersect_and_union of each rule's cams_to_label map."""
    out = []
    for r in rules:
        pred = cams_to_label(cams, labels, r)
        out.append(
            np.stack([
                a.numpy() for a in IoUMetric.intersect_and_union(
                    pred, gt, num_classes, ignore_index)
            ]))
    return np.stack(out).astype(np.int64)


@pytest.mark.parametrize('kind', ['threshold', 'power'])
def test_one_histogram_sweep_equals_intersect_and_union(kind):
    """The sweep from one histogram is mmseg's areas, value for value:
    values on and next to the thresholds, ties between classes, ignored
    and out-of-range ground truth, unsorted values, an image without
    classes."""
    rng = np.random.default_rng(0)
    num_classes, h, w = 6, 37, 23
    values = [0.3, 0.05, 0.5, 0.25, 0.9, 0.3] if kind == 'threshold' else \
        [4, 1, 16, 2, 32, 8]
    key = 'thr' if kind == 'threshold' else 'alpha'
    rules = [{'type': kind, key: v} for v in values]
    for labels in ([1, 3, 5], [2], []):
        cams = rng.random((len(labels), h, w)).astype(np.float32)
        cams[:, :3] = np.float32(0.3)  # exactly on a threshold
        cams[:, 3] = np.nextafter(np.float32(0.3), np.float32(1))
        cams = np.round(cams, 1)  # many ties between classes
        gt = rng.integers(0, num_classes, (h, w))
        gt[rng.random((h, w)) < 0.1] = 255
        gt[0, :5] = 9  # a label outside the classes, not ignored
        cams_t = torch.from_numpy(cams).float()
        labels_t = torch.tensor(labels, dtype=torch.int64)
        gt_t = torch.from_numpy(gt)
        ours = pmm.sweep_area_stats(cams_t, labels_t, rules, gt_t,
                                    num_classes, 255)
        ref = _reference_stats(cams_t, labels_t, rules, gt_t, num_classes,
                               255)
        assert ours.dtype == np.int64
        assert np.array_equal(ours, ref), labels
        # one label map: the output row and the CRF column
        pred = cams_to_label(cams_t, labels_t, rules[0])
        pred[0, 0] = 255  # an uncertain pixel of a model's own mask
        ref1 = np.stack([
            a.numpy() for a in IoUMetric.intersect_and_union(
                pred, gt_t, num_classes, 255)
        ]).astype(np.int64)
        assert np.array_equal(
            pmm._map_stats(pred, gt_t, num_classes, 255), ref1)


def test_sweep_of_a_non_nested_rule_family(monkeypatch):
    """Should float arithmetic ever make the power rule's foreground sets
    not nested, every value is counted on its own, still exactly."""
    real = pmm.background_score

    def odd(cams, rule):  # alpha 2 gives a larger background than 4 and 1
        score = real(cams, dict(rule, alpha=1))
        return score * 1.5 if rule['alpha'] == 2 else score * (
            1 - 0.1 * rule['alpha'] / 4)

    monkeypatch.setattr(pmm, 'background_score', odd)
    rng = np.random.default_rng(1)
    cams = torch.from_numpy(rng.random((2, 9, 7)).astype(np.float32))
    labels = torch.tensor([1, 2])
    gt = torch.from_numpy(rng.integers(0, 3, (9, 7)))
    rules = [dict(type='power', alpha=a) for a in (1, 2, 4)]
    ours = pmm.sweep_area_stats(cams, labels, rules, gt, 3, 255)
    ref = []
    for r in rules:
        pred = torch.cat([odd(cams, r), cams]).argmax(0)
        pred = torch.tensor([0, 1, 2])[pred]
        ref.append(
            np.stack([
                a.numpy() for a in IoUMetric.intersect_and_union(
                    pred, gt, 3, 255)
            ]))
    assert np.array_equal(ours, np.stack(ref).astype(np.int64))


def test_crf_column(tmp_path):
    img, path = _image(tmp_path)
    metric = _metric(sweep=[0.3, 0.4])
    metric.process({}, [_sample(path, crf='psa', crf_sweep=[0.3, 0.4])])
    res = metric.compute_metrics(metric.results)
    # the CRF column must equal the CRF applied independently to the same
    # unary, argmax-ed and scored against the GT [0, 0, 1, 1]
    cams = torch.tensor([[[0.1, 0.4, 0.6, 0.9]]])
    expected = []
    for thr in (0.3, 0.4):
        probs = cams_to_probs(cams, dict(type='threshold', thr=thr)).numpy()
        pred = DenseCRF('psa')(img, probs).argmax(0)[0]
        gt = np.array([0, 0, 1, 1])
        ious = [((pred == c) & (gt == c)).sum() / ((pred == c) | (gt == c)).sum()
                for c in (0, 1) if ((pred == c) | (gt == c)).any()]
        expected.append(100 * np.mean(ious))
    assert res['oracle_mIoU_crf'] == pytest.approx(max(expected), abs=0.01)
    # gt-free Otsu threshold 0.41 -> nearest CRF value 0.4
    assert res['gt_free_mIoU_crf'] == pytest.approx(expected[1], abs=0.01)
    # the configured row is the model's CRF'd mask (thr 0.3 + CRF)
    assert res['mIoU'] == pytest.approx(expected[0], abs=0.01)


def test_rejects_non_cam_outputs():
    metric = _metric()
    with pytest.raises(KeyError, match='CAMSegmentor'):
        metric.process({}, [dict(img_path='x.jpg')])
    sample = _sample()
    del sample['pred_sem_seg']
    with pytest.raises(KeyError, match='pred_sem_seg'):
        metric.process({}, [sample])
    with pytest.raises(ValueError, match='PredictionWriterHook'):
        PseudoMaskMetric(output_dir='somewhere')
    # the keys that moved name their new place
    with pytest.raises(ValueError, match='model.test_cfg.crf_sweep'):
        PseudoMaskMetric(crf_sweep=[0.3])
    with pytest.raises(ValueError, match='save_maps=True'):
        PseudoMaskMetric(save_cams=True)


def test_crf_sweep_subset_and_log_table(tmp_path, monkeypatch):
    """The model's CRF values fill the sweep rows they match ('-' for the
    others; a value outside the sweep is not shown); the log table keeps
    its layout."""
    img, path = _image(tmp_path)
    metric = _metric(sweep=[0.3, 0.4, 0.6])
    metric.process({}, [_sample(path, crf='psa', crf_sweep=[0.4, 0.5])])
    assert metric.results[0]['stats'].shape == (1 + 3 + 1, 4, 3)
    logged = []
    monkeypatch.setattr(pmm, 'print_log', lambda msg, **kw: logged.append(msg))
    res = metric.compute_metrics(metric.results)
    cams = torch.tensor([[[0.1, 0.4, 0.6, 0.9]]])
    probs = cams_to_probs(cams, dict(type='threshold', thr=0.4)).numpy()
    pred = DenseCRF('psa')(img, probs).argmax(0)[0]
    gt = np.array([0, 0, 1, 1])
    iou = [((pred == c) & (gt == c)).sum() / ((pred == c) | (gt == c)).sum()
           for c in (0, 1) if ((pred == c) | (gt == c)).any()]
    assert res['oracle_mIoU_crf'] == pytest.approx(
        100 * np.mean(iou), abs=0.01)
    assert res['gt_free_mIoU_crf'] == res['oracle_mIoU_crf']
    # the table as logged: thr 0.3 and 0.6 give [0, 1, 1, 1] -> 58.33
    assert res['mIoU'] == 100.0  # configured: thr 0.3 + CRF
    log = '\n'.join(logged)
    table = [
        'Pseudo-mask mIoU over the background sweep:',
        '|   bg thr | mIoU (no CRF) | mIoU (CRF) | note',
        '-' * 46,
        '|      0.3 |        58.33 |          - | configured',
        '|      0.4 |       100.00 |     100.00 | oracle (GT-tuned, no CRF), '
        'GT-free (Otsu t=0.41)',
        '|      0.6 |        58.33 |          - | ',
        'configured (thr=0.3 + CRF): mIoU 100.00; oracle values are tuned on '
        'the ground truth and are upper bounds, GT-free values use no mask.',
    ]
    assert '\n'.join(table) in log


def test_own_background_decides_the_output():
    """A refiner's bg_score (AffinityNet's propagated background) gives the
    output masks; the sweep still uses the threshold rule."""
    sample = _sample(
        '/data/img_002.jpg',
        rule=dict(type='threshold', thr=0.3, output='propagated'),
        # argmax([bg, cam]): bg [0.5, 0.5, 0.7, 0.1] vs cam
        # [0.1, 0.4, 0.6, 0.9] -> [0, 0, 0, 1]: bg IoU 2/3, a 1/2
        bg_score=torch.tensor([[[0.5, 0.5, 0.7, 0.1]]]))
    assert sample['pred_sem_seg']['data'].tolist() == [[[0, 0, 0, 1]]]
    metric = _metric(sweep=[0.3, 0.4])
    metric.process({}, [sample])
    res = metric.compute_metrics(metric.results)
    assert res['mIoU'] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2, abs=0.01)
    assert res['oracle_mIoU'] == pytest.approx(100.0)  # thr 0.4, as before


def test_model_mask_ignored_pixels_count_as_missed():
    ds = SegDataSample(
        metainfo=dict(
            img_path='/x/a.jpg',
            cam_bg_rule=dict(type='threshold', thr=0.0, output='model')))
    ds.set_data(
        dict(
            cams=torch.tensor([[[0.1, 0.4, 0.6, 0.9]]]),
            cam_labels=torch.tensor([1]),
            pred_sem_seg=PixelData(data=torch.tensor([[[0, 255, 1, 1]]])),
            gt_sem_seg=PixelData(data=torch.tensor([[[0, 0, 1, 1]]]))))
    sample = PseudoMaskPostProcessor()([ds])[0].to_dict()
    metric = _metric(sweep=[0.4])
    metric.process({}, [sample])
    res = metric.compute_metrics(metric.results)
    # [0, 255, 1, 1] vs [0, 0, 1, 1]: bg 1/2, a 2/2
    assert res['mIoU'] == pytest.approx(75.0)
    assert res['output_ignored_pct'] == 25.0


def test_mixed_settings_are_refused(tmp_path):
    _, path = _image(tmp_path)
    metric = _metric(sweep=[0.3, 0.4])
    metric.process({}, [_sample(path), _sample(path, crf='psa')])
    with pytest.raises(ValueError, match='different CRF settings'):
        metric.compute_metrics(metric.results)
    metric = _metric(sweep=[0.3, 0.4])
    metric.process(
        {}, [_sample(), _sample(rule=dict(type='threshold', thr=0.4))])
    with pytest.raises(ValueError, match='different background rules'):
        metric.compute_metrics(metric.results)
