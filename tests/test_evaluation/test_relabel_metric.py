# Copyright (c) OpenMMLab. All rights reserved.
"""Relabelling on hand-built 4x4 masks, every value counted by hand: the
previous mask is loaded (LoadLabelMap), filled by the model
(RelabelSegmentor) and scored (RelabelMetric)."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from mmwsss.datasets import LoadLabelMap
from mmwsss.evaluation import RelabelMetric
from mmwsss.models import RelabelSegmentor, fill_pseudo_mask
from mmwsss.utils import save_palette_png

init_default_scope('mmseg')

META = dict(
    classes=('background', 'a', 'b'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0]])
X = 255
PREV = np.array([[0, 0, X, 1],
                 [0, X, X, 1],
                 [2, 2, X, 1],
                 [X, 2, 2, 1]])  # 5 of 16 pixels ignored
PRED = np.array([[0, 1, 1, 1],
                 [0, 1, 1, 1],
                 [2, 2, 1, 0],
                 [2, 2, 2, 0]])
GT = np.array([[0, 0, 1, 1],
               [0, 0, 1, 1],
               [2, 2, 1, 1],
               [2, 2, 2, X]])
# fill='uncertain': the ignored pixels take the prediction
UNCERTAIN = np.array([[0, 0, 1, 1],
                      [0, 1, 1, 1],
                      [2, 2, 1, 1],
                      [2, 2, 2, 1]])


def test_fill_pseudo_mask_by_hand():
    prev, pred = torch.from_numpy(PREV), torch.from_numpy(PRED)
    assert fill_pseudo_mask(prev, pred, 'uncertain').tolist() == \
        UNCERTAIN.tolist()
    assert fill_pseudo_mask(prev, pred, 'all').tolist() == PRED.tolist()
    assert fill_pseudo_mask(None, pred, 'uncertain').tolist() == \
        PRED.tolist()
    with pytest.raises(ValueError, match='fill must be one of'):
        fill_pseudo_mask(prev, pred, 'some')


@pytest.mark.parametrize('mode', ['P', 'L'])
def test_load_label_map_reads_raw_indices(tmp_path, mode):
    path = str(tmp_path / 'img_1.png')
    if mode == 'P':
        save_palette_png(path, PREV, META['palette'])
    else:  # a grey PNG: the same raw indices
        Image.fromarray(PREV.astype(np.uint8), mode='L').save(path)
    results = LoadLabelMap(key='prev_mask')(
        dict(prev_mask_path=path, img_path='x.jpg', seg_fields=[]))
    assert results['prev_mask'].dtype == np.uint8
    assert results['prev_mask'].tolist() == PREV.tolist()
    assert results['seg_fields'] == []  # not resized with the image
    with pytest.raises(KeyError, match='data_prefix.prev_mask_path'):
        LoadLabelMap()(dict(img_path='x.jpg'))
    with pytest.raises(OSError, match='nope.png'):
        LoadLabelMap()(dict(prev_mask_path=str(tmp_path / 'nope.png')))


class _FixedSegmentor(torch.nn.Module):
    """Predicts ``PRED`` for every sample."""

    def __init__(self, pred=PRED):
        super().__init__()
        self.pred = torch.from_numpy(pred)
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def test_step(self, data):
        out = []
        for ds in data['data_samples']:
            ds = ds.clone()
            ds.set_data(dict(pred_sem_seg=PixelData(data=self.pred[None])))
            out.append(ds)
        return out


def _input(prev=PREV, gt=GT, path='/prev/img_1.png'):
    ds = SegDataSample(
        metainfo=dict(img_path='/data/JPEGImages/img_1.jpg',
                      prev_mask_path=path))
    ds.set_data(
        dict(
            gt_sem_seg=PixelData(data=torch.from_numpy(gt)[None]),
            prev_mask=PixelData(
                data=torch.from_numpy(prev.astype(np.uint8))[None])))
    return ds


def _relabel(fill='uncertain', sample=None, pred=PRED):
    model = RelabelSegmentor(module=_FixedSegmentor(pred), fill=fill)
    return model.test_step(
        dict(inputs=[torch.zeros(3, 4, 4)],
             data_samples=[_input() if sample is None else sample]))


def _metric(**kwargs):
    m = RelabelMetric(**kwargs)
    m.dataset_meta = META
    return m


def test_uncertain_fill_scores():
    out = _relabel('uncertain')[0]
    assert out.pred_sem_seg.data[0].tolist() == UNCERTAIN.tolist()
    assert out.metainfo['mask_fill'] == 'uncertain'
    metric = _metric()
    metric.process({}, [out.to_dict()])
    # 15 scored pixels (GT (3,3) ignored):
    # bg: pred {00,01,10}, gt {00,01,10,11} -> 3 / 4
    # a: pred 7 pixels, gt 6, all 6 inside -> 6 / 7; b: 5 / 5
    stats = metric.results[0]['stats']
    assert stats[0].tolist() == [3, 6, 5]  # intersections
    assert stats[1].tolist() == [4, 7, 5]  # unions
    assert metric.results[0]['counts'].tolist() == [5, 5, 0, 16]
    res = metric.compute_metrics(metric.results)
    assert res['mIoU'] == pytest.approx(100 * (3 / 4 + 6 / 7 + 1) / 3,
                                        abs=0.01)
    assert res['filled_pct'] == 31.25  # 5 of 16
    assert res['prev_ignored_pct'] == 31.25
    assert res['changed_pct'] == 0.0


def test_all_fill_takes_the_prediction_everywhere():
    out = _relabel('all')[0]
    assert out.pred_sem_seg.data[0].tolist() == PRED.tolist()
    metric = _metric()
    metric.process({}, [out.to_dict()])
    res = metric.compute_metrics(metric.results)
    # bg: pred {00,10,23}, gt {00,01,10,11}: 2 / 5
    # a: pred {01,02,03,11,12,13,22}, gt {02,03,12,13,22,23}: 5 / 8; b: 1
    assert res['mIoU'] == pytest.approx(100 * (2 / 5 + 5 / 8 + 1) / 3,
                                        abs=0.01)
    assert res['filled_pct'] == 31.25
    # labelled before and relabelled: (0,1) 0->1, (2,3) 1->0, (3,3) 1->0
    assert res['changed_pct'] == 18.75


def test_format_only_counts_without_ground_truth():
    sample = _relabel()[0].to_dict()
    del sample['gt_sem_seg']
    metric = _metric(format_only=True)
    metric.process({}, [sample])
    res = metric.compute_metrics(metric.results)
    assert dict(res) == dict(filled_pct=31.25, prev_ignored_pct=31.25,
                             changed_pct=0.0)


def test_errors():
    with pytest.raises(ValueError, match='fill must be one of'):
        RelabelSegmentor(module=_FixedSegmentor(), fill='some')
    for old in ('prev_mask_dir', 'fill', 'output_dir'):
        with pytest.raises(TypeError, match=old):
            RelabelMetric(**{old: 'x'})
    # no previous mask: 'uncertain' has nothing to fill, 'all' needs none
    bare = SegDataSample(metainfo=dict(img_path='/data/img_1.jpg'))
    with pytest.raises(KeyError, match='prev_mask'):
        _relabel('uncertain', bare.clone())
    out = _relabel('all', bare.clone())[0]
    assert out.pred_sem_seg.data[0].tolist() == PRED.tolist()
    metric = _metric(format_only=True)
    metric.process({}, [out.to_dict()])
    assert metric.results[0]['counts'].tolist() == [0, 0, 0, 16]
    # a previous mask of another size
    with pytest.raises(ValueError) as e:
        _relabel('uncertain', _input(prev=PREV[:3]))
    msg = str(e.value)
    assert '/prev/img_1.png' in msg
    assert '(3, 4)' in msg and '(4, 4)' in msg


def test_segmentor_checkpoint_loads_into_the_wrapper(tmp_path):
    """``load_from`` of the segmentor's own checkpoint fills ``module``."""
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    seg = _FixedSegmentor()
    with torch.no_grad():
        seg.weight.fill_(3.0)
    path = str(tmp_path / 'seg.pth')
    torch.save(dict(state_dict=seg.state_dict()), path)
    wrapper = RelabelSegmentor(module=_FixedSegmentor())
    _load_checkpoint_to_model(wrapper, torch.load(path), strict=True)
    assert wrapper.module.weight.item() == 3.0
