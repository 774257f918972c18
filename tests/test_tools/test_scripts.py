# Copyright (c) OpenMMLab. All rights reserved.
"""The smoke test of the tools that the other tests run in this process
(their ``main(argv)``): each runs here as a user runs it, ``python
tools/...`` from the repository root, all at once (importing torch and
mmseg is most of the time of each). The tools with a smoke test elsewhere:
train.py, test.py and run_pipeline.py (test_pipeline.py), dist_train.sh and
dist_test.sh (test_distributed.py) and coco2014_semantic.py
(test_coco_utils.py)."""
import json
import os
import sys

import numpy as np
import pytest
from PIL import Image

from mmwsss.testing import run_scripts

pytestmark = pytest.mark.slow


def test_tools_run_as_scripts(tmp_path):
    labels = np.zeros(20, np.float32)
    labels[[0, 14]] = 1
    npy = str(tmp_path / 'cls_labels.npy')
    np.save(npy, {'2007_000032': labels}, allow_pickle=True)
    img_dir = tmp_path / 'img'
    img_dir.mkdir()
    img = np.zeros((16, 24, 3), np.uint8)
    img[4:12, 8:16] = (200, 30, 30)
    Image.fromarray(img).save(img_dir / 'a.jpg')
    python = sys.executable
    out = run_scripts({
        'cls_labels_to_json': [
            python, 'tools/dataset_converters/cls_labels_to_json.py', npy,
            str(tmp_path / 'labels.json')
        ],
        'make_saliency': [
            python, 'tools/misc/make_saliency.py',
            str(img_dir),
            str(tmp_path / 'sal'), '--method', 'ft'
        ],
        'psa2mmwsss': [python, 'tools/model_converters/psa2mmwsss.py',
                       '--help'],
        'cam_grid': [python, 'tools/analysis_tools/cam_grid.py', '--help'],
        'oversegment': [
            python, 'tools/dataset_converters/oversegment.py',
            str(img_dir),
            str(tmp_path / 'regions')
        ],
        'masks_to_points_boxes': [
            python, 'tools/dataset_converters/masks_to_points_boxes.py',
            '--help'
        ],
        'make_synthetic_dataset': [
            python, 'tools/misc/make_synthetic_dataset.py',
            str(tmp_path / 'ds'), '--num-train', '10', '--num-val', '5',
            '--image-size', '32', '--seed', '1'
        ],
    })
    for name, (code, log) in out.items():
        assert code == 0, f'{name}:\n{log[-3000:]}'
    assert json.load(open(tmp_path / 'labels.json')) == {
        '2007_000032': [1, 15]
    }
    assert sorted(os.listdir(tmp_path / 'sal')) == [
        'a.png', 'saliency_meta.json'
    ]
    sal = np.asarray(Image.open(tmp_path / 'sal' / 'a.png'))
    assert sal.shape == (16, 24)
    assert sal[8, 12] > sal[0, 0]  # the red square stands out
    assert out['psa2mmwsss'][1].startswith('usage: psa2mmwsss.py')
    assert out['cam_grid'][1].startswith('usage: cam_grid.py')
    assert out['masks_to_points_boxes'][1].startswith(
        'usage: masks_to_points_boxes.py')
    assert sorted(os.listdir(tmp_path / 'regions')) == [
        'a.png', 'oversegment_meta.json'
    ]
    log = out['make_synthetic_dataset'][1]
    assert 'train: 10 images' in log and 'val: 5 images' in log
    assert len(os.listdir(tmp_path / 'ds' / 'JPEGImages')) == 15
