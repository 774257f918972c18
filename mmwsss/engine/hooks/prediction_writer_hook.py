# Copyright (c) OpenMMLab. All rights reserved.
"""Write each test image's predicted mask (and maps) atomically."""
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from mmwsss.utils.io import save_npz_atomic, save_palette_png

__all__ = ['PredictionWriterHook', 'image_id']


def image_id(metainfo: dict) -> str:
    """A sample's image id, which names the files written for it.

    The ``img_id`` of an mmwsss dataset (the image's path under the image
    folder without extension, e.g. ``'2007_000032'`` or ``'a/x'``; see
    :class:`~mmwsss.datasets.BaseWSSSDataset`), else, for samples of other
    datasets, the basename of ``img_path`` without extension.

    Args:
        metainfo (dict): The sample's metainfo (or its dict form).

    Returns:
        str: E.g. ``'2007_000032'`` for ``.../JPEGImages/2007_000032.jpg``.

    Raises:
        ValueError: If the id is empty, absolute or has a ``.``/``..``
            component, so that a file named by it would leave its folder.
    """
    name = metainfo.get('img_id')
    if name is None:
        return osp.splitext(osp.basename(metainfo['img_path']))[0]
    name = str(name)
    parts = name.replace('\\', '/').split('/')
    if not name or osp.isabs(name) or any(p in ('', '.', '..')
                                          for p in parts):
        raise ValueError(
            f'image id {name!r} of {metainfo.get("img_path")} is not a '
            'relative path inside its folder (empty, absolute, or with an '
            'empty, "." or ".." component); the files named by it would '
            'leave the output folder')
    return name


@HOOKS.register_module()
class PredictionWriterHook(Hook):
    """Write the predicted masks of a test pass, one file per image.

    mmseg's ``IoUMetric(output_dir=...)`` writes raw label PNGs from the
    metric; here a hook does it, so that any model and any metric can be
    combined with it, and :class:`~mmwsss.engine.ResumableTestLoop` can
    skip the images whose files exist. After each test iteration, for every
    predicted sample:

    - ``<out_dir>/<image id>.png``: ``pred_sem_seg`` as a palette PNG
      (mode ``'P'``, the dataset's palette, 255 in the VOC boundary colour);
    - with ``save_maps``: ``<out_dir>/cams/<image id>.npz`` with ``cams``
      (the sample's ``(L, H, W)`` normalised maps, float16) and ``labels``
      (its ``cam_labels``, int64): the format
      :class:`~mmwsss.datasets.LoadCAMs` reads, e.g. for a refiner such as
      :class:`~mmwsss.models.AffinityNet`.

    Both are written atomically (:mod:`mmwsss.utils.io`), the mask first.
    The image id is the sample's ``img_id`` (see :func:`image_id`): the
    image's path under the image folder, so that split entries ``a/x`` and
    ``b/x`` get ``<out_dir>/a/x.png`` and ``<out_dir>/b/x.png`` (sub-folders
    are created); for flat ids, the file name without extension. In a
    distributed run each process writes the images of its shard.

    Args:
        out_dir (str, optional): The folder. Defaults to None:
            ``<work_dir>/predictions`` (``tools/test.py --out DIR`` sets it).
        save_maps (bool): Also save the maps. Defaults to False.
    """

    priority = 'NORMAL'

    def __init__(self,
                 out_dir: Optional[str] = None,
                 save_maps: bool = False) -> None:
        self.out_dir = out_dir
        self.save_maps = bool(save_maps)
        self.palette = None

    def before_test(self, runner) -> None:
        """Resolve the folder and read the dataset's palette."""
        if self.out_dir is None:
            self.out_dir = osp.join(runner.work_dir, 'predictions')
        os.makedirs(self.out_dir, exist_ok=True)
        if self.save_maps:
            os.makedirs(osp.join(self.out_dir, 'cams'), exist_ok=True)
        dataset = getattr(runner.test_dataloader, 'dataset', None)
        self.palette = getattr(dataset, 'metainfo', {}).get('palette')

    def paths(self, metainfo: dict) -> list:
        """The files this hook writes for one image."""
        name = image_id(metainfo)
        out = [osp.join(self.out_dir, name + '.png')]
        if self.save_maps:
            out.append(osp.join(self.out_dir, 'cams', name + '.npz'))
        return out

    def is_done(self, metainfo: dict) -> bool:
        """Whether every file of the image exists (its outputs were
        written by an earlier, possibly killed, run)."""
        return self.out_dir is not None and all(
            osp.isfile(p) for p in self.paths(metainfo))

    def write(self, sample) -> None:
        """Write one predicted sample's files."""
        paths = self.paths(sample.metainfo)
        mask = sample.pred_sem_seg.data
        mask = mask[0] if mask.ndim == 3 else mask
        save_palette_png(paths[0], mask.cpu().numpy(), self.palette)
        if self.save_maps:
            if 'cams' not in sample:
                raise KeyError(
                    'PredictionWriterHook(save_maps=True) needs the maps '
                    '("cams", "cam_labels") of a stage-2 model; the sample '
                    f"of {sample.metainfo.get('img_path')} has none")
            save_npz_atomic(
                paths[1],
                cams=sample.cams.float().cpu().numpy().astype(np.float16),
                labels=sample.cam_labels.cpu().to(torch.int64).numpy())

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        """Write the batch's predictions."""
        for sample in outputs or []:
            self.write(sample)
