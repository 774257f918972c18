# Copyright (c) OpenMMLab. All rights reserved.
"""Tiny configs on a generated synthetic set, for end-to-end tests.

They derive from the real CPU configs (``configs/cam/..._synthetic...`` and
``configs/deeplabv2/..._synthetic...``) and only shrink them: 8-channel
ResNet-18s, 40-pixel images, a handful of iterations, no worker processes.
"""
import os.path as osp
from typing import Dict, Optional, Sequence

from ._utils import REPO_ROOT

__all__ = [
    'TINY_GENERATE', 'write_tiny_cam_config', 'write_tiny_seg_config',
    'write_tiny_pipeline_config', 'write_tiny_eps_config',
    'write_tiny_affinity_config', 'write_tiny_classpattern_config',
    'write_tiny_relabel_config', 'write_tiny_rpnet_config',
    'write_tiny_irn_config', 'write_tiny_spml_config', 'PIPELINES'
]

CAM_BASE = osp.join(REPO_ROOT, 'configs', 'cam',
                    'cam_r18w32-d8_1xb16-600_synthetic-96x96.py')
EPS_BASE = osp.join(REPO_ROOT, 'configs', 'eps',
                    'eps_r18w32-d8_1xb16-600_synthetic-96x96.py')
AFF_BASE = osp.join(REPO_ROOT, 'configs', 'affinitynet',
                    'affinitynet_r18w32-d8_1xb16-600_synthetic-96x96.py')
RPNET_BASE = osp.join(REPO_ROOT, 'configs', 'rpnet',
                      'rpnet_r18w32-d8_1xb16-600_synthetic-96x96.py')
IRN_BASE = osp.join(REPO_ROOT, 'configs', 'irn',
                    'irn_r18w32-d8_1xb16-600_synthetic-96x96.py')
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


def _refiner_tail(iters: int) -> str:
    """Loaders and schedule of a tiny refiner (train and test, no val)."""
    return f"""
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


def write_tiny_cam_config(path: str,
                          data_root: str,
                          iters: int = 2,
                          generate: Optional[Dict] = None,
                          method: str = 'cam',
                          save_maps: Optional[bool] = None) -> str:
    """Write a tiny classifier config (stages 1-2) to ``path``.

    ``method`` ``'cam'`` derives it from the CAM baseline, ``'eps'`` from
    the EPS config. ``save_maps``: whether testing also saves the CAMs
    (for a trained refiner); by default only EPS does.
    """
    generate = generate or TINY_GENERATE
    base = {'cam': CAM_BASE, 'eps': EPS_BASE}[method]
    if save_maps is None:
        save_maps = method == 'eps'
    text = f"""
_base_ = [{base!r}]
generate = {generate!r}
data_root = {data_root!r}
model = dict(backbone=dict(stem_channels=8, base_channels=8),
             cam_head=dict(in_channels=64),
             test_cfg=dict(scales=(1.0, 0.5), crf=None))
test_evaluator = dict(sweep=[0.1, 0.2, 0.3])
custom_hooks = [
    dict(type='WSSSNumClassCheckHook'),
    dict(type='ProgressBarHook'),
    dict(type='PredictionWriterHook', save_maps={bool(save_maps)}),
    dict(type='MaskGridHook', num_images=3, height=40),
]
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
""" + _refiner_tail(iters)
    with open(path, 'w') as f:
        f.write(text)
    return path


def write_tiny_rpnet_config(path: str,
                            data_root: str,
                            iters: int = 2,
                            generate: Optional[Dict] = None) -> str:
    """Write a tiny RPNet classifier config (stages 1-2) to ``path``.

    The RPNet synthetic config on the tiny CAM classifier's backbone: the
    prototypes of its outputs 1 and 3 (16 and 64 channels), reduced to 16
    channels; training keeps the image groups (``ImageGroupDataset`` with
    one reference per query, ``group_collate``), so a batch of 4 queries
    forwards 8 images. Testing saves the CAMs (for a trained refiner).
    """
    generate = generate or TINY_GENERATE
    # the train set sits one level down, inside the ImageGroupDataset
    loaders = _LOADERS.replace(
        'dataset=dict(data_root=data_root, generate=generate))',
        'dataset=dict(dataset=dict(data_root=data_root, generate=generate)))',
        1)
    text = f"""
_base_ = [{RPNET_BASE!r}]
generate = {generate!r}
data_root = {data_root!r}
model = dict(backbone=dict(stem_channels=8, base_channels=8),
             cam_head=dict(in_channels=(16, 64), channels=16),
             test_cfg=dict(scales=(1.0, 0.5), crf=None))
test_evaluator = dict(sweep=[0.1, 0.2, 0.3])
custom_hooks = [
    dict(type='WSSSNumClassCheckHook'),
    dict(type='ProgressBarHook'),
    dict(type='PredictionWriterHook', save_maps=True),
]
""" + loaders + _schedule(iters)
    with open(path, 'w') as f:
        f.write(text)
    return path


def write_tiny_irn_config(path: str,
                          data_root: str,
                          iters: int = 2,
                          generate: Optional[Dict] = None) -> str:
    """Write a tiny IRN refiner config to ``path``.

    The IRN synthetic config on the tiny classifiers' backbone (8-channel
    ResNet-18: taps of 8, 8, 16, 32 and 64 channels), each tap reduced to
    8 channels, and a walk of 8 steps. Its frozen backbone is initialised
    from ``model.backbone.init_cfg.checkpoint`` (a pipeline sets it to the
    classifier's checkpoint).
    """
    generate = generate or TINY_GENERATE
    text = f"""
_base_ = [{IRN_BASE!r}]
generate = {generate!r}
data_root = {data_root!r}
model = dict(backbone=dict(stem_channels=8, base_channels=8),
             boundary_head=dict(in_channels=(8, 8, 16, 32, 64), channels=8),
             test_cfg=dict(num_iters=8))
""" + _refiner_tail(iters)
    with open(path, 'w') as f:
        f.write(text)
    return path


SPML_BASE = osp.join(REPO_ROOT, 'configs', 'spml',
                     'spml-scribbles_r18w32-d8_1xb16-600_synthetic-96x96.py')
#: The SPML synthetic config of each supervision type.
SPML_BASES = {
    sup: osp.join(REPO_ROOT, 'configs', 'spml',
                  f'spml-{sup}_r18w32-d8_1xb16-600_synthetic-96x96.py')
    for sup in ('tags', 'boxes', 'points', 'scribbles')
}
#: The weak-label transforms of the tiny SPML configs (those of the real
#: configs with 1-pixel strokes and points on the 40-pixel images).
_SPML_WEAK_LABELS = dict(
    tags="""dict(type='LoadCAMs'),
    dict(type='TagsToWeakLabel', num_classes=6, alpha=6, threshold=0.2),""",
    boxes="""dict(type='LoadCAMs'),
    dict(type='LoadBoxWeakLabel', classes=('background', 'aeroplane', 'boat',
         'car', 'person', 'cat'), threshold=0.5),""",
    points="dict(type='LoadPointWeakLabel', num_classes=6, radius=1),",
    scribbles="dict(type='LoadScribbleWeakLabel', num_classes=6, radius=1),")


def write_tiny_spml_config(path: str,
                           data_root: str,
                           iters: int = 2,
                           generate: Optional[Dict] = None,
                           supervision: str = 'scribbles') -> str:
    """Write a tiny SPML config to ``path``.

    The SPML config of ``supervision`` (``'tags'``, ``'boxes'``,
    ``'points'`` or ``'scribbles'``) on the tiny classifiers' backbone
    (8-channel ResNet-18, 64 channels out), 16-d embeddings from one 3x3
    conv, a 3 x 3 k-means grid of 3 rounds, and a walk of 8 steps. The
    region maps are read from ``<data_root>/Regions`` (make them first,
    e.g. with ``tools/dataset_converters/oversegment.py``; a pipeline sets
    ``data_prefix.region_path``); tags and boxes also read CAMs
    (``data_prefix.cam_path``).
    """
    generate = generate or TINY_GENERATE
    size = generate['image_size']
    weak_label = _SPML_WEAK_LABELS[supervision]
    # tags: the bank of the nearest-prototype labelling is fitted on the
    # tiny train images (a 3 x 3 k-means start on the small maps)
    bank = '' if supervision != 'tags' else \
        "prototype_dataloader=dict(dataset=dict(data_root=data_root, " \
        "generate=generate)),\n             "
    text = f"""
_base_ = [{SPML_BASES[supervision]!r}]
generate = {generate!r}
data_root = {data_root!r}
model = dict(backbone=dict(stem_channels=8, base_channels=8),
             embedding_head=dict(in_channels=64, embed_dims=16,
                                 dilations=(1, )),
             loss=dict(kmeans_grid=(3, 3), kmeans_iters=3),
             classifier=dict(embed_dims=16, channels=8),
             {bank}test_cfg=dict(num_iters=8, radius=3, prototype_grid=3))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    {weak_label}
    dict(type='LoadRegionMap'),
    dict(type='RandomCrop', crop_size=({size}, {size})),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs', pixel_keys=('gt_weak_seg', 'gt_region_map')),
]
""" + _refiner_tail(iters) + """
train_dataloader['dataset']['pipeline'] = train_pipeline
"""
    with open(path, 'w') as f:
        f.write(text)
    return path


def write_tiny_spml_round2_config(path: str, base: str) -> str:
    """Write the tiny stand-in of an SPML classifier-round config
    (``configs/spml/spml-<sup>-round2_*.py``) to ``path``: the tiny SPML
    config ``base`` with ``train_stage='classifier'``, the masks as
    ``gt_sem_seg`` (a pipeline sets ``data_prefix.seg_map_path``) and one
    walk step."""
    text = f"""
_base_ = [{base!r}]
model = dict(train_stage='classifier', test_cfg=dict(seed='softmax',
                                                     num_iters=1))
train_dataloader = dict(dataset=dict(
    data_prefix=dict(_delete_=True, img_path='JPEGImages',
                     seg_map_path='SET_TO_THE_ROUND1_PSEUDO_MASKS'),
    file_suffixes=dict(_delete_=True),
    pipeline=[dict(type='LoadImageFromFile'),
              dict(type='LoadWSSSAnnotations'),
              dict(type='RandomFlip', prob=0.5),
              dict(type='PackWSSSInputs')]))
test_dataloader = dict(dataset=dict(
    file_suffixes=dict(_delete_=True),
    pipeline=[dict(type='LoadImageFromFile'),
              dict(type='LoadWSSSAnnotations'),
              dict(type='PackWSSSInputs')]))
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


#: The real pipeline configs the tiny pipelines are derived from.
PIPELINES = dict(
    cam='pipeline_cam-deeplabv2_synthetic.py',
    cam_affinitynet='pipeline_cam-affinitynet-deeplabv2_synthetic.py',
    eps_affinitynet='pipeline_eps-affinitynet-deeplabv2_synthetic.py',
    classpattern='pipeline_classpattern-deeplabv2_synthetic.py',
    rpnet_irn='pipeline_rpnet-irn-deeplabv2_synthetic.py',
    cam_irn='pipeline_cam-irn-deeplabv2_synthetic.py',
    spml_tags='pipeline_spml-tags-deeplabv2_synthetic.py',
    spml_boxes='pipeline_spml-boxes-deeplabv2_synthetic.py',
    spml_points='pipeline_spml-points-deeplabv2_synthetic.py',
    spml_scribbles='pipeline_spml-scribbles-deeplabv2_synthetic.py')


def _tiny_stage_config(real: str,
                       folder: str,
                       data_root: str,
                       iters: int,
                       save_maps: bool = False) -> str:
    """The tiny config that stands in for the real stage config ``real``.

    ``save_maps``: a later stage reads the classifier's saved CAMs, so the
    tiny CAM classifier saves them (as the real one does).
    """
    name = osp.basename(real)

    def tiny_cam(path, data_root, iters):
        return write_tiny_cam_config(path, data_root, iters,
                                     save_maps=save_maps)

    if name.startswith('spml-'):
        # the supervision type is the name's second part: spml-<sup>_...,
        # spml-<sup>-round2_... for the classifier round
        supervision = name[len('spml-'):].split('_')[0]
        round2 = supervision.endswith('-round2')
        supervision = supervision.split('-')[0]
        path = osp.join(folder, f'tiny_spml-{supervision}.py')
        if not osp.isfile(path):
            write_tiny_spml_config(path, data_root, iters=iters,
                                   supervision=supervision)
        if round2:
            base, path = path, osp.join(folder,
                                        f'tiny_spml-{supervision}-round2.py')
            if not osp.isfile(path):
                write_tiny_spml_round2_config(path, base)
        return path

    writers = (
        ('cam_', 'tiny_cam.py', tiny_cam),
        ('rpnet_', 'tiny_rpnet.py', write_tiny_rpnet_config),
        ('irn_', 'tiny_irn.py', write_tiny_irn_config),
        ('eps_', 'tiny_eps.py', write_tiny_eps_config),
        ('affinitynet_', 'tiny_aff.py', write_tiny_affinity_config),
        ('deeplabv2_', 'tiny_seg.py', write_tiny_seg_config),
        ('classpattern-', 'tiny_classpattern.py', write_tiny_classpattern_config),
        ('relabel-', 'tiny_relabel.py', write_tiny_relabel_config),
    )
    for prefix, tiny, writer in writers:
        if name.startswith(prefix):
            path = osp.join(folder, tiny)
            if not osp.isfile(path):
                writer(path, data_root, iters=iters)
            return path
    raise ValueError(f'no tiny stand-in for the stage config {real}')


def write_tiny_pipeline_config(folder: str,
                               pipeline: str = 'cam',
                               iters: int = 2,
                               stage_options: Optional[Dict] = None,
                               extra: str = '',
                               drop: Sequence[str] = ()) -> str:
    """Write a tiny version of a real pipeline config into ``folder``.

    The stages, their kinds, inputs, options and reports are those of the
    real pipeline config (:data:`PIPELINES`); only each stage config is
    replaced by a tiny one derived from it (8-channel ResNet-18s, 40-pixel
    images, ``iters`` iterations), so the tests run the real graphs.

    Args:
        folder (str): Where the tiny stage configs and the pipeline config
            go (the synthetic set is generated into ``folder/data``).
        pipeline (str): A key of :data:`PIPELINES`.
        iters (int): Training iterations of every train stage.
        stage_options (dict, optional): ``{stage name: {key: value}}``
            merged into those stages (e.g. ``cfg_options``).
        extra (str): Appended to the pipeline config text.
        drop (Sequence[str]): Stages to leave out (e.g. stage 3, which
            other tests cover, when a test is about the earlier stages).

    Returns:
        str: The pipeline config's path.
    """
    from mmwsss.apis.pipeline import load_pipeline_config
    data_root = osp.join(folder, 'data')
    real = osp.join(REPO_ROOT, 'configs', 'pipelines', PIPELINES[pipeline])
    stages = []
    graph = load_pipeline_config(real).stages
    # a stage reads the saved CAMs of another
    save_maps = any(
        isinstance(source, str) and source.endswith('.maps')
        for stage in graph for source in (stage.get('inputs') or {}).values())
    # the checked graph: inherited, in run order, configs resolved
    for stage in graph:
        if stage['name'] in drop:
            continue
        stage = dict(stage)
        tiny = _tiny_stage_config(stage['config'], folder, data_root, iters,
                                  save_maps)
        stage['config'] = osp.basename(tiny)
        for key, value in ((stage_options or {}).get(stage['name']) or
                           {}).items():
            if isinstance(value, dict) and isinstance(stage.get(key), dict):
                stage[key] = {**stage[key], **value}
            else:
                stage[key] = value
        stages.append(stage)
    text = (f'# tiny version of {PIPELINES[pipeline]}\n'
            f'stages = {stages!r}\n'
            'seed = 0\nrepeat = 1\nnproc = 1\n' + extra)
    path = osp.join(folder, 'tiny_pipeline.py')
    with open(path, 'w') as f:
        f.write(text)
    return path


CLASSPATTERN_BASE = osp.join(REPO_ROOT, 'configs', 'classpattern',
                    'classpattern-c41_r18w32-d8_1xb16-600_synthetic-96x96.py')


def write_tiny_classpattern_config(path: str,
                          data_root: str,
                          iters: int = 2,
                          generate: Optional[Dict] = None,
                          feature_layer: str = 'backbone.layer4.0') -> str:
    """Write a tiny Luo & Yang (class pattern) config to ``path``.

    Its classifier is the tiny CAM classifier; the class patterns are
    fitted (``model.pattern_dataloader``) on at most 4 images per class;
    the masks get the dense CRF of the real config (IRN's, on single-class
    images) and one CRF sweep value.
    """
    generate = generate or TINY_GENERATE
    text = f"""
_base_ = [{CLASSPATTERN_BASE!r}]
generate = {generate!r}
data_root = {data_root!r}
model = dict(backbone=dict(stem_channels=8, base_channels=8),
             cam_head=dict(in_channels=64),
             feature_layer={feature_layer!r},
             pattern_dataloader=dict(num_workers=0, dataset=dict(
                 max_images_per_class=4,
                 dataset=dict(data_root=data_root, generate=generate))),
             test_cfg=dict(crf='irn', crf_sweep=[0.2]))
test_evaluator = dict(sweep=[0.1, 0.2, 0.3])
""" + _LOADERS + _schedule(iters)
    with open(path, 'w') as f:
        f.write(text)
    return path


RELABEL_BASE = osp.join(
    REPO_ROOT, 'configs', 'classpattern',
    'relabel-deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')


def write_tiny_relabel_config(path: str,
                              data_root: str,
                              iters: int = 2,
                              generate: Optional[Dict] = None) -> str:
    """Write a tiny relabel config (the retraining round's pass) to
    ``path``: the synthetic relabel config on the tiny segmentation model.
    """
    generate = generate or TINY_GENERATE
    seg = osp.join(osp.dirname(path), 'tiny_seg.py')
    if not osp.isfile(seg):
        write_tiny_seg_config(seg, data_root, iters, generate)
    text = f"""
_base_ = [{RELABEL_BASE!r}]
generate = {generate!r}
data_root = {data_root!r}
model = dict(module=dict(
    backbone=dict(stem_channels=8, base_channels=8),
    decode_head=dict(in_channels=64, dilations=(1, 2)),
    data_preprocessor=dict(size=({generate['image_size']},
                                 {generate['image_size']}))))
test_dataloader = dict(num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, generate=generate))
"""
    with open(path, 'w') as f:
        f.write(text)
    return path
