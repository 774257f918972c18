# Copyright (c) OpenMMLab. All rights reserved.
"""Tiny configs on a generated synthetic set, for end-to-end tests.

They derive from the real CPU configs (``configs/cam/..._synthetic...`` and
``configs/deeplabv2/..._synthetic...``) and only shrink them: 8-channel
ResNet-18s, 40-pixel images, a handful of iterations, no worker processes.
"""
import os.path as osp
from typing import Dict, Optional, Union

from ._utils import REPO_ROOT

__all__ = [
    'TINY_GENERATE', 'write_tiny_cam_config', 'write_tiny_seg_config',
    'write_tiny_pipeline_config', 'write_tiny_eps_config',
    'write_tiny_affinity_config', 'write_tiny_dcp_config'
]

CAM_BASE = osp.join(REPO_ROOT, 'configs', 'cam',
                    'cam_r18w32-d8_1xb16-600_synthetic-96x96.py')
EPS_BASE = osp.join(REPO_ROOT, 'configs', 'eps',
                    'eps_r18w32-d8_1xb16-600_synthetic-96x96.py')
AFF_BASE = osp.join(REPO_ROOT, 'configs', 'affinitynet',
                    'affinitynet_r18w32-d8_1xb16-600_synthetic-96x96.py')
SEG_BASE = osp.join(REPO_ROOT, 'configs', 'deeplabv2',
                    'deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')
TINY_GENERATE = dict(num_train=10, num_val=4, image_size=40, seed=1)

_LOADERS = """
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, generate=generate))
val_dataloader = dict(num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, generate=generate))
test_dataloader = dict(num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, generate=generate))
"""


def _schedule(iters: int) -> str:
    return f"""
train_cfg = dict(max_iters={iters}, val_interval={iters})
param_scheduler = [dict(type='PolyLR', power=0.9, begin=0, end={iters},
                        by_epoch=False)]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval={iters}))
"""


def write_tiny_cam_config(path: str,
                          data_root: str,
                          iters: int = 2,
                          generate: Optional[Dict] = None,
                          method: str = 'cam') -> str:
    """Write a tiny classifier config (stages 1-2) to ``path``.

    ``method`` ``'cam'`` derives it from the CAM baseline, ``'eps'`` from
    the EPS config (which also saves its CAMs, for a trained refiner).
    """
    generate = generate or TINY_GENERATE
    base = {'cam': CAM_BASE, 'eps': EPS_BASE}[method]
    text = f"""
_base_ = [{base!r}]
generate = {generate!r}
data_root = {data_root!r}
model = dict(backbone=dict(stem_channels=8, base_channels=8),
             cam_head=dict(in_channels=64),
             test_cfg=dict(scales=(1.0, 0.5)))
test_evaluator = dict(crf=None, sweep=[0.1, 0.2, 0.3],
                      save_cams={method == 'eps'})
""" + _LOADERS + _schedule(iters)
    with open(path, 'w') as f:
        f.write(text)
    return path


def write_tiny_eps_config(path: str,
                          data_root: str,
                          iters: int = 2,
                          generate: Optional[Dict] = None) -> str:
    """Write a tiny EPS classifier config (saves its CAMs) to ``path``."""
    return write_tiny_cam_config(path, data_root, iters, generate, 'eps')


def write_tiny_affinity_config(path: str,
                               data_root: str,
                               iters: int = 2,
                               generate: Optional[Dict] = None) -> str:
    """Write a tiny AffinityNet refiner config to ``path``."""
    generate = generate or TINY_GENERATE
    text = f"""
_base_ = [{AFF_BASE!r}]
generate = {generate!r}
data_root = {data_root!r}
model = dict(backbone=dict(stem_channels=8, base_channels=8),
             aff_head=dict(in_channels=(16, 32, 64), channels=(8, 8, 16)),
             test_cfg=dict(num_iters=8))
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, generate=generate))
test_dataloader = dict(num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, generate=generate))
train_cfg = dict(max_iters={iters}, val_interval={iters + 1})
param_scheduler = [dict(type='PolyLR', power=0.9, begin=0, end={iters},
                        by_epoch=False)]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval={iters}))
"""
    with open(path, 'w') as f:
        f.write(text)
    return path


def write_tiny_seg_config(path: str,
                          data_root: str,
                          iters: int = 2,
                          generate: Optional[Dict] = None) -> str:
    """Write a tiny DeepLab-v2 stage-3 config to ``path``."""
    generate = generate or TINY_GENERATE
    size = generate['image_size']
    text = f"""
_base_ = [{SEG_BASE!r}]
generate = {generate!r}
data_root = {data_root!r}
crop_size = ({size}, {size})
model = dict(data_preprocessor=dict(size=crop_size),
             backbone=dict(stem_channels=8, base_channels=8),
             decode_head=dict(in_channels=64, dilations=(1, 2)))
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=r, keep_ratio=True)
         for r in (1.0, 1.5)],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')], [dict(type='PackSegInputs')]])
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
""" + _LOADERS.replace(
        'dataset=dict(data_root=data_root, generate=generate))',
        'dataset=dict(data_root=data_root, generate=generate,'
        ' pipeline=train_pipeline))', 1) + _schedule(iters)
    with open(path, 'w') as f:
        f.write(text)
    return path


def write_tiny_pipeline_config(folder: str,
                               iters: int = 2,
                               refinement: Union[bool, str] = False,
                               crf: Optional[str] = None,
                               extra: str = '',
                               method: str = 'cam',
                               retrain_rounds: int = 0) -> str:
    """Write tiny stage configs and a pipeline config into ``folder``.

    ``method`` is ``'cam'``, ``'eps'`` or ``'dcp'`` (the classifier; ``'dcp'``
    adds the class-pattern stage of Luo & Yang); ``refinement``
    False, True (the dense CRF) or ``'affinitynet'`` (a trained refiner on
    the saved CAMs); ``retrain_rounds`` > 0 adds that many relabel +
    retrain rounds (``retrain = dict(rounds=...)``).

    Returns:
        str: The pipeline config's path.
    """
    data_root = osp.join(folder, 'data')
    stage2 = "pseudo_masks = dict(crf='none')"
    if method == 'eps':
        cam = write_tiny_eps_config(
            osp.join(folder, 'tiny_eps.py'), data_root, iters=iters)
    elif method == 'dcp':
        cam = write_tiny_dcp_config(
            osp.join(folder, 'tiny_dcp.py'), data_root, iters=iters)
        stage2 = "class_patterns = dict()\npseudo_masks = dict(crf='irn')"
    else:
        cam = write_tiny_cam_config(
            osp.join(folder, 'tiny_cam.py'), data_root, iters=iters)
    seg = write_tiny_seg_config(
        osp.join(folder, 'tiny_seg.py'), data_root, iters=iters)
    if refinement == 'affinitynet':
        aff = write_tiny_affinity_config(
            osp.join(folder, 'tiny_aff.py'), data_root, iters=iters)
        ref = f'dict(train_config={osp.basename(aff)!r})'
    else:
        ref = "dict(crf='psa')" if refinement else 'None'
    text = f"""
classifier = dict(config={osp.basename(cam)!r})
{stage2}
refinement = {ref}
segmentation = dict(config={osp.basename(seg)!r}, tta=True, crf={crf!r})
seed = 0
repeat = 1
nproc = 1
""" + (f'retrain = dict(rounds={int(retrain_rounds)})\n'
       if retrain_rounds else '') + extra
    path = osp.join(folder, 'tiny_pipeline.py')
    with open(path, 'w') as f:
        f.write(text)
    return path


DCP_BASE = osp.join(REPO_ROOT, 'configs', 'dcp',
                    'dcp-c41_r18w32-d8_1xb16-600_synthetic-96x96.py')


def write_tiny_dcp_config(path: str,
                          data_root: str,
                          iters: int = 2,
                          generate: Optional[Dict] = None,
                          feature_layer: str = 'backbone.layer4.0') -> str:
    """Write a tiny Luo & Yang (class pattern) config to ``path``.

    Its classifier is the tiny CAM classifier; ``pattern_dataloader`` uses
    at most 4 images per class.
    """
    generate = generate or TINY_GENERATE
    text = f"""
_base_ = [{DCP_BASE!r}]
generate = {generate!r}
data_root = {data_root!r}
model = dict(backbone=dict(stem_channels=8, base_channels=8),
             cam_head=dict(in_channels=64),
             feature_layer={feature_layer!r})
test_evaluator = dict(crf='irn', sweep=[0.1, 0.2, 0.3], crf_sweep=[0.2])
pattern_dataloader = dict(num_workers=0, dataset=dict(
    data_root=data_root, generate=generate, max_images_per_class=4))
""" + _LOADERS + _schedule(iters)
    with open(path, 'w') as f:
        f.write(text)
    return path
