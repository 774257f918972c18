# Copyright (c) OpenMMLab. All rights reserved.
"""SPML end to end: region maps, train, then pseudo masks of the train
split (tools/train.py and tools/test.py in-process)."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmwsss.testing import TINY_GENERATE, run_tool, write_tiny_spml_config


@pytest.mark.slow
def test_spml_scribbles_train_and_pseudo_masks(tmp_path):
    from mmwsss.datasets.synthetic import generate_synthetic_wsss
    root = str(tmp_path / 'syn')
    generate_synthetic_wsss(root, **TINY_GENERATE)
    run_tool('dataset_converters/oversegment.py', [
        osp.join(root, 'JPEGImages'),
        osp.join(root, 'Regions'), '--min-size', '10'
    ])
    cfg = write_tiny_spml_config(str(tmp_path / 'tiny_spml.py'), root)
    work = str(tmp_path / 'work')
    _, log = run_tool('train.py', [cfg, '--work-dir', work])
    assert 'loss_spml_sem_ann' in log and 'loss_spml_img_sim' in log
    assert 'nan' not in log.split('loss_spml')[-1][:200]
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)
    out = str(tmp_path / 'masks')
    metrics_json = str(tmp_path / 'metrics.json')
    run_tool('test.py', [
        cfg, ckpt, '--work-dir', work, '--out', out, '--metrics-json',
        metrics_json
    ])
    ids = open(osp.join(root, 'ImageSets', 'Segmentation',
                        'train.txt')).read().split()
    pngs = sorted(f for f in os.listdir(out) if f.endswith('.png'))
    assert pngs == sorted(i + '.png' for i in ids)
    mask = np.asarray(Image.open(osp.join(out, pngs[0])))
    size = TINY_GENERATE['image_size']
    assert mask.shape == (size, size) and mask.max() <= 5
    metrics = json.load(open(metrics_json))
    assert any('mIoU' in k for k in metrics), metrics
