# Copyright (c) OpenMMLab. All rights reserved.
"""Draw the masks of a test pass for a fixed set of images, and the
background sweep, through the runner's visualizer."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.dist import all_gather_object, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS
from PIL import Image

from mmwsss.evaluation.metrics.pseudo_mask_metric import SWEEP_INFO
from mmwsss.visualization import (GRID_COLUMNS, make_grid, make_grid_row,
                                  panel_starts, sweep_curve)
from .prediction_writer_hook import PredictionWriterHook, image_id

__all__ = ['MaskGridHook', 'choose_images']


def choose_images(num_samples: int, num: int, seed: int) -> List[int]:
    """The dataset indices a grid shows: the first ``num`` of a permutation
    of ``range(num_samples)`` by ``numpy.random.default_rng(seed)``, sorted.

    The same dataset and ``seed`` give the same images in every stage, run
    and process, so pictures of different stages compare; a smaller
    ``num`` gives a subset of a larger one's images.
    """
    order = np.random.default_rng(seed).permutation(num_samples)
    return sorted(int(i) for i in order[:num])


def _gt_classes(gt: Optional[np.ndarray]) -> List[int]:
    """The foreground classes of a ground-truth mask (0 and 255 left out)."""
    if gt is None:
        return []
    return [int(c) for c in np.unique(gt) if 0 < c < 255]


def _resize(array: np.ndarray, height: int, nearest: bool) -> np.ndarray:
    """Resize the last two (maps) or first two (image/mask) axes to
    ``height`` rows, keeping the aspect ratio."""
    h, w = array.shape[:2]
    if h <= height:
        return array
    size = (max(1, round(w * height / h)), height)
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(array, size, interpolation=interp)


@HOOKS.register_module()
class MaskGridHook(Hook):
    """After a test pass, draw a grid of its masks and the background
    sweep as a curve, and hand both to the runner's visualizer.

    mmseg's ``SegVisualizationHook`` draws one picture per image; a WSSS
    stage is judged by looking at the same few images across stages, with
    their class maps, so this hook draws one grid for a fixed, seeded set
    of images (:func:`choose_images`: the same images in every stage that
    tests the same dataset) with the columns
    ``image | maps of its classes | mask | ground truth``:

    - maps: a stage-2 model's ``cams`` (one captioned heat map per class of
      the image, at most ``max_maps``); for a segmentation model, the
      softmax of its ``seg_logits`` for the classes of the ground truth;
    - mask: ``pred_sem_seg``, in the dataset's palette;
    - ground truth: the sample's ``gt_sem_seg`` (grey when there is none).

    With a :class:`~mmwsss.evaluation.PseudoMaskMetric` in the evaluator,
    its background sweep (the message hub's ``'pseudo_mask_sweep'``) is
    drawn as mIoU against the background value, the configured, oracle
    (GT-tuned) and GT-free (Otsu) points marked.

    The pictures go through mmengine's visualizer to every backend of the
    config's ``visualizer.vis_backends``: ``LocalVisBackend`` writes
    ``<work_dir>/<timestamp>/vis_data/vis_image/<name>_0.png`` and
    ``<name>_sweep_0.png`` (the paths are logged); add
    ``dict(type='TensorboardVisBackend')`` or ``dict(type='WandbVisBackend')``
    to log them there too. Images that a resumed pass skipped (their files
    existed) are read back from the :class:`PredictionWriterHook`'s folder.
    In a distributed pass every process keeps the chosen images of its
    shard and the main process draws.

    Args:
        num_images (int): Images in the grid. Defaults to 8.
        seed (int): Seed of their choice. Defaults to 0.
        height (int): Row height in pixels. Defaults to 120.
        max_maps (int): Most class maps per image. Defaults to 3.
        name (str): The picture's name for the backends. Defaults to
            ``'masks'``.
        draw_sweep (bool): Draw the sweep curve when there is one.
            Defaults to True.
    """

    priority = 'LOW'

    def __init__(self,
                 num_images: int = 8,
                 seed: int = 0,
                 height: int = 120,
                 max_maps: int = 3,
                 name: str = 'masks',
                 draw_sweep: bool = True) -> None:
        if num_images < 1:
            raise ValueError(
                f'MaskGridHook: num_images must be >= 1, got {num_images}')
        self.num_images = int(num_images)
        self.seed = int(seed)
        self.height = int(height)
        self.max_maps = int(max_maps)
        self.name = str(name)
        self.draw_sweep = bool(draw_sweep)
        self._infos: Dict[str, dict] = {}
        self._rows: Dict[str, dict] = {}
        self.written: List[str] = []

    # ------------------------------------------------------------------
    def before_test(self, runner) -> None:
        """Choose the images; forget an earlier pass's sweep."""
        dataset = runner.test_dataloader.dataset
        self.classes = tuple(dataset.metainfo.get('classes') or ())
        self.palette = dataset.metainfo.get('palette')
        if self.palette is None:  # a dataset without one: seeded colours
            colours = np.random.default_rng(0).integers(
                0, 256, (max(len(self.classes), 1), 3))
            colours[0] = 0  # background black
            self.palette = colours.tolist()
        self._infos, self._rows, self.written = {}, {}, []
        for order, idx in enumerate(
                choose_images(len(dataset), self.num_images, self.seed)):
            info = dataset.get_data_info(idx)
            self._infos[image_id(info)] = dict(
                order=order,
                img_path=info['img_path'],
                seg_map_path=info.get('seg_map_path'),
                img_labels=[int(c) for c in info.get('img_labels', [])])
        runner.message_hub.update_info(SWEEP_INFO, None)

    def _class_maps(self, sample, gt: Optional[np.ndarray]) -> tuple:
        """The maps of the image's classes and their names."""
        if 'cams' in sample:
            cams = sample.cams.float().cpu().numpy()
            labels = sample.cam_labels.cpu().numpy().tolist()
        elif 'seg_logits' in sample:
            logits = sample.seg_logits.data.float()
            probs = torch.softmax(logits, dim=0).cpu().numpy()
            present = np.unique(gt) if gt is not None else np.unique(
                sample.pred_sem_seg.data.cpu().numpy())
            labels = [int(c) for c in present if 0 < c < len(probs)]
            cams = probs[labels]
        else:
            return None, None
        keep = list(range(min(len(labels), self.max_maps)))
        names = [
            self.classes[c] if c < len(self.classes) else str(c)
            for c in labels
        ]
        return cams[keep], [names[i] for i in keep]

    def _row(self, name: str, mask: np.ndarray, cams, cam_names) -> dict:
        """The small arrays of one row (resized to the row height)."""
        info = self._infos[name]
        image = np.asarray(Image.open(info['img_path']).convert('RGB'))
        gt = None
        if info['seg_map_path'] and osp.isfile(info['seg_map_path']):
            gt = np.asarray(Image.open(info['seg_map_path']))
        h, w = image.shape[:2]
        if mask.shape != (h, w):
            mask = cv2.resize(
                mask.astype(np.uint8), (w, h),
                interpolation=cv2.INTER_NEAREST)
        image = _resize(image, self.height, False)
        if cams is not None:  # straight to the row's size, in one resize
            size = (image.shape[1], image.shape[0])
            cams = np.stack([
                cv2.resize(c.astype(np.float32), size) for c in cams
            ]) if len(cams) else np.zeros((0, size[1], size[0]), np.float32)
        return dict(
            order=info['order'],
            image=image,
            mask=_resize(mask.astype(np.uint8), self.height, True),
            gt=None if gt is None else _resize(gt, self.height, True),
            cams=cams,
            cam_names=cam_names,
            labels=[
                self.classes[c] if c < len(self.classes) else str(c)
                for c in (info['img_labels'] or _gt_classes(gt))
            ])

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        """Keep the chosen images of the batch."""
        for sample in outputs or []:
            name = image_id(sample.metainfo)
            if name not in self._infos:
                continue
            mask = sample.pred_sem_seg.data.cpu().numpy()
            mask = mask[0] if mask.ndim == 3 else mask
            gt = None
            if 'gt_sem_seg' in sample:
                gt = sample.gt_sem_seg.data.cpu().numpy()
                gt = gt[0] if gt.ndim == 3 else gt
            cams, names = self._class_maps(sample, gt)
            self._rows[name] = self._row(name, mask, cams, names)

    def _from_writer(self, runner, name: str) -> Optional[dict]:
        """A chosen image a resumed pass skipped: its files."""
        for hook in runner.hooks:
            if isinstance(hook, PredictionWriterHook) and hook.out_dir:
                paths = hook.paths(dict(img_id=name))
                if not osp.isfile(paths[0]):
                    continue
                mask = np.asarray(Image.open(paths[0]))
                cams, names = None, None
                if len(paths) > 1 and osp.isfile(paths[1]):
                    with np.load(paths[1]) as f:
                        cams = f['cams'].astype(np.float32)[:self.max_maps]
                        names = [
                            self.classes[c] if c < len(self.classes) else
                            str(c) for c in f['labels'][:self.max_maps]
                        ]
                return self._row(name, mask, cams, names)
        return None

    def after_test_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        """Gather the rows, draw the grid and the sweep curve."""
        gathered = all_gather_object(self._rows)
        if not is_main_process():
            return
        rows = {}
        for part in gathered:
            rows.update(part)
        for name in self._infos:
            if name not in rows:
                row = self._from_writer(runner, name)
                if row is not None:
                    rows[name] = row
        if rows:
            self._add(runner, self.name, self._draw_grid(rows))
        info = runner.message_hub.get_info(SWEEP_INFO)
        if self.draw_sweep and info:
            curve = sweep_curve(
                info['values'],
                info['miou'],
                marks=info['marks'],
                miou_crf=info.get('miou_crf'),
                xlabel=info.get('xlabel', 'background value'))
            self._add(runner, f'{self.name}_sweep', curve)

    def _draw_grid(self, rows: Dict[str, dict]) -> np.ndarray:
        ordered = sorted(rows.items(), key=lambda kv: kv[1]['order'])
        maps_width = max([1] + [
            len(r['cams']) for _, r in ordered if r['cams'] is not None
        ])
        drawn, titles = [], []
        for name, r in ordered:
            drawn.append(
                make_grid_row(
                    r['image'],
                    r['cams'],
                    r['mask'],
                    r['gt'],
                    self.palette,
                    self.height,
                    cam_names=r['cam_names'],
                    maps_width=maps_width))
            titles.append(f"{name}: {', '.join(r['labels']) or 'background'}")
        starts = panel_starts(self.height, [1, maps_width, 1, 1])
        return make_grid(drawn, titles, GRID_COLUMNS, starts)

    def _add(self, runner, name: str, image: np.ndarray) -> None:
        """Hand a picture to the visualizer's backends; log where the
        local one wrote it."""
        visualizer = runner.visualizer
        visualizer.add_image(name, image, step=0)
        where = []
        for backend in getattr(visualizer, '_vis_backends', {}).values():
            img_dir = getattr(backend, '_img_save_dir', None)
            if type(backend).__name__ == 'LocalVisBackend' and img_dir:
                where.append(osp.join(img_dir, f'{name}_0.png'))
            else:
                where.append(type(backend).__name__)
        self.written.extend(where)
        print_log(
            f'MaskGridHook: drew {name!r} -> '
            f'{", ".join(where) or "no backend"}',
            logger='current')
