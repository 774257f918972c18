# Copyright (c) OpenMMLab. All rights reserved.
"""Derive box and point labels from segmentation masks (seeded, resumable).

For datasets that have masks but no box or point annotations (MSRC-21 in
VOC layout), this writes SPML's box and point weak labels by a fixed rule,
so that the box and point settings can be run and compared on them::

    python tools/dataset_converters/masks_to_points_boxes.py \\
        data/msrc21 data/msrc21_weak \\
        --list data/msrc21/ImageSets/Segmentation/train.txt --seed 0

**The rule.** The masks have no instance ids, so a *connected component*
(8-connected by default) of one class stands in for an object instance:

* a component smaller than ``--min-area`` pixels (default 50) is dropped
  (specks of relabelling noise);
* **boxes**: one per component of a foreground class (background and the
  ignore value 255 have none): its tight bounding box, written as a VOC
  XML object (``<name>`` the class name, ``<bndbox>`` 1-based inclusive,
  ``<truncated>`` 1 when it touches the image border, ``<difficult>`` 0),
  with ``<size>`` the mask's;
* **points**: ``--points`` (default 1) pixels per component, background
  components included (otherwise nothing would be labelled background),
  drawn without replacement, uniformly among the component's *inner* pixels:
  those whose Euclidean distance to the nearest pixel outside the
  component (the image border counts as outside) is at least half the
  component's largest such distance. Annotators click inside objects,
  away from their outline (Bearman et al., "What's the point", ECCV 2016:
  one click per object); the inner half also keeps the point, and SPML's
  dilation of it (radius 6), off the void band and the label noise at
  boundaries (the synthetic set draws its points by a similar rule, with
  city-block distances).
  Written as a palette PNG: the class index at each point, 255 elsewhere
  (read by ``LoadPointWeakLabel``).

The random draws of an image come from ``numpy.random.default_rng(
SeedSequence([seed, crc32(image id)]))``, and components are visited in a
fixed order (class, then the raster order of ``skimage.measure.label``), so
an image's points depend only on the seed, its id and its mask: a resumed
or partial run writes the same files as a full one.

Output under ``OUT_DIR``: ``Annotations/<id>.xml``, ``Points/<id>.png``
(both written atomically; an image whose two files exist is skipped, so an
interrupted run resumes) and ``points_boxes_meta.json`` (the rule's
settings; a rerun with other settings is refused, ``--overwrite``
recomputes everything). Where ``JPEGImages/<id>.jpg`` exists its size must
equal the mask's.
"""
import argparse
import os
import os.path as osp
import sys
import xml.etree.ElementTree as ET
import zlib
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

try:
    import mmwsss  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..',
                                            '..')))

from mmwsss.utils.io import (atomic_write_bytes, read_json_if_exists,  # noqa
                             save_palette_png, write_json_atomic)

__all__ = [
    'components', 'inner_pixels', 'points_and_boxes', 'voc_xml',
    'convert_masks', 'main', 'parse_args'
]

TOOL_VERSION = '1.0'
META_FILE = 'points_boxes_meta.json'
IGNORE = 255


class PointsBoxesToolError(RuntimeError):
    """A failure of the tool that names its cause (file, argument)."""


def _class_names(spec: str) -> Tuple[str, ...]:
    """Class names: 'voc', 'coco', 'synthetic' or a file, one per line."""
    if spec == 'voc':
        from mmseg.datasets import PascalVOCDataset
        return tuple(PascalVOCDataset.METAINFO['classes'])
    if spec == 'coco':
        from mmwsss.datasets.coco_utils import COCO_CLASSES
        return tuple(COCO_CLASSES)
    if spec == 'synthetic':
        from mmwsss.datasets.synthetic import SYNTHETIC_CLASSES
        return tuple(SYNTHETIC_CLASSES)
    if not osp.isfile(spec):
        raise PointsBoxesToolError(
            f'--classes {spec!r} is not voc, coco, synthetic or a file')
    with open(spec, encoding='utf-8') as f:
        return tuple(line.strip() for line in f if line.strip())


def components(mask: np.ndarray,
               connectivity: int = 8,
               min_area: int = 1,
               ignore_index: int = IGNORE) -> List[Tuple[int, np.ndarray]]:
    """Connected components of each class of ``mask``.

    Args:
        mask (np.ndarray): ``(H, W)`` class indices.
        connectivity (int): 4 or 8. Defaults to 8.
        min_area (int): Smaller components are dropped. Defaults to 1.
        ignore_index (int): Value without components. Defaults to 255.

    Returns:
        list[tuple[int, np.ndarray]]: ``(class, bool mask)`` by class,
        then raster order of the component's first pixel.
    """
    from skimage.measure import label as cc_label
    out = []
    for c in np.unique(mask):
        if c == ignore_index:
            continue
        lab = cc_label(mask == c, connectivity=1 if connectivity == 4 else 2)
        for k in range(1, int(lab.max()) + 1):
            comp = lab == k
            if comp.sum() >= min_area:
                out.append((int(c), comp))
    return out


def inner_pixels(comp: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(ys, xs)`` of the pixels of ``comp`` at least half its largest
    distance from its outside (the image border is outside), raster order.
    """
    from scipy import ndimage  # a dependency of scikit-image
    dist = ndimage.distance_transform_edt(np.pad(comp, 1))[1:-1, 1:-1]
    return np.nonzero(comp & (dist >= dist.max() / 2))


def points_and_boxes(mask: np.ndarray,
                     img_id: str,
                     seed: int = 0,
                     num_points: int = 1,
                     min_area: int = 50,
                     connectivity: int = 8,
                     ignore_index: int = IGNORE
                     ) -> Tuple[np.ndarray, List[Tuple[int, tuple]]]:
    """The points and boxes of one mask (the rule of the module doc).

    Args:
        mask (np.ndarray): ``(H, W)`` class indices (``ignore_index`` void).
        img_id (str): Image id (seeds its draws).
        seed (int): Defaults to 0.
        num_points (int): Points per component. Defaults to 1.
        min_area (int): Smallest component kept. Defaults to 50.
        connectivity (int): 4 or 8. Defaults to 8.
        ignore_index (int): Defaults to 255.

    Returns:
        tuple: The ``(H, W)`` uint8 point map (255 off the points) and the
        boxes ``(class, (xmin, ymin, xmax, ymax))``, 0-based inclusive.
    """
    rng = np.random.default_rng(
        np.random.SeedSequence([seed, zlib.crc32(img_id.encode('utf-8'))]))
    points = np.full(mask.shape, IGNORE, np.uint8)
    boxes = []
    for c, comp in components(mask, connectivity, min_area, ignore_index):
        if c != 0:
            ys, xs = np.nonzero(comp)
            boxes.append((c, (int(xs.min()), int(ys.min()), int(xs.max()),
                              int(ys.max()))))
        ys, xs = inner_pixels(comp)
        pick = rng.choice(len(ys), min(num_points, len(ys)), replace=False)
        points[ys[pick], xs[pick]] = c
    return points, boxes


def voc_xml(img_id: str, shape: Tuple[int, int],
            boxes: Sequence[Tuple[int, tuple]],
            classes: Sequence[str], suffix: str = '.jpg') -> bytes:
    """A VOC XML annotation of ``boxes`` (0-based inclusive, written
    1-based)."""
    height, width = shape
    root = ET.Element('annotation')
    ET.SubElement(root, 'filename').text = img_id + suffix
    source = ET.SubElement(root, 'source')
    ET.SubElement(source, 'annotation').text = (
        'mmwsss masks_to_points_boxes.py: connected components of the mask')
    size = ET.SubElement(root, 'size')
    ET.SubElement(size, 'width').text = str(width)
    ET.SubElement(size, 'height').text = str(height)
    ET.SubElement(size, 'depth').text = '3'
    ET.SubElement(root, 'segmented').text = '1'
    for c, (x0, y0, x1, y1) in boxes:
        obj = ET.SubElement(root, 'object')
        ET.SubElement(obj, 'name').text = classes[c]
        ET.SubElement(obj, 'pose').text = 'Unspecified'
        touches = x0 == 0 or y0 == 0 or x1 == width - 1 or y1 == height - 1
        ET.SubElement(obj, 'truncated').text = str(int(touches))
        ET.SubElement(obj, 'difficult').text = '0'
        bnd = ET.SubElement(obj, 'bndbox')
        for key, value in zip(('xmin', 'ymin', 'xmax', 'ymax'),
                              (x0, y0, x1, y1)):
            ET.SubElement(bnd, key).text = str(value + 1)
    ET.indent(root, space='\t')
    return ET.tostring(root, encoding='utf-8') + b'\n'


def _settings(seed, num_points, min_area, connectivity, classes) -> dict:
    return dict(
        seed=seed,
        points_per_component=num_points,
        min_area=min_area,
        connectivity=connectivity,
        classes=list(classes),
        tool_version=TOOL_VERSION)


def _check_meta(out_dir: str, settings: dict) -> None:
    try:
        meta = read_json_if_exists(osp.join(out_dir, META_FILE))
    except ValueError as e:
        raise PointsBoxesToolError(str(e)) from e
    if meta is None:
        return
    old = meta.get('settings')
    if old != settings:
        diff = sorted(k for k in set(old or {}) | set(settings)
                      if (old or {}).get(k) != settings.get(k))
        raise PointsBoxesToolError(
            f'{out_dir} was written with other settings ({", ".join(diff)}'
            f'); use another folder or --overwrite')


def convert_masks(data_root: str,
                  out_dir: str,
                  split_file: Optional[str] = None,
                  mask_dir: str = 'SegmentationClass',
                  img_dir: str = 'JPEGImages',
                  img_suffix: str = '.jpg',
                  classes: str = 'voc',
                  seed: int = 0,
                  num_points: int = 1,
                  min_area: int = 50,
                  connectivity: int = 8,
                  overwrite: bool = False,
                  progress: bool = True) -> dict:
    """Write the boxes and points of every listed mask; see the module doc.

    Args:
        data_root (str): Dataset root (VOC layout).
        out_dir (str): Output root (``Annotations/``, ``Points/``).
        split_file (str, optional): One id per line. Defaults to None
            (every PNG of the mask folder).
        mask_dir (str): Mask folder under ``data_root``. Defaults to
            'SegmentationClass'.
        img_dir (str): Image folder under ``data_root`` (sizes checked
            where images exist). Defaults to 'JPEGImages'.
        img_suffix (str): Defaults to '.jpg'.
        classes (str): ``'voc'``, ``'coco'``, ``'synthetic'`` or a file of
            names, one per line, background first. Defaults to 'voc'.
        seed (int): Defaults to 0.
        num_points (int): Points per component. Defaults to 1.
        min_area (int): Smallest component kept. Defaults to 50.
        connectivity (int): 4 or 8. Defaults to 8.
        overwrite (bool): Recompute existing files, accept other settings.
        progress (bool): Show an mmengine progress bar. Defaults to True.

    Returns:
        dict: The meta written to ``points_boxes_meta.json``.
    """
    if connectivity not in (4, 8):
        raise PointsBoxesToolError(
            f'--connectivity must be 4 or 8, got {connectivity}')
    if num_points < 1 or min_area < 1:
        raise PointsBoxesToolError('--points and --min-area must be >= 1')
    names = _class_names(classes)
    masks = osp.join(data_root, mask_dir)
    if not osp.isdir(masks):
        raise PointsBoxesToolError(f'mask folder {masks} does not exist')
    if split_file is None:
        ids = sorted(n[:-4] for n in os.listdir(masks)
                     if n.endswith('.png') and not n.startswith('.'))
    else:
        if not osp.isfile(split_file):
            raise PointsBoxesToolError(f'id list {split_file} does not exist')
        with open(split_file, encoding='utf-8') as f:
            ids = [line.strip() for line in f if line.strip()]
    settings = _settings(seed, num_points, min_area, connectivity, names)
    os.makedirs(out_dir, exist_ok=True)
    if not overwrite:
        _check_meta(out_dir, settings)
    meta = dict(
        settings=settings,
        source=osp.abspath(masks),
        split_file=osp.abspath(split_file) if split_file else None,
        tool='tools/dataset_converters/masks_to_points_boxes.py',
        complete=False)
    write_json_atomic(osp.join(out_dir, META_FILE), meta)
    todo = []
    for img_id in ids:
        xml = osp.join(out_dir, 'Annotations', img_id + '.xml')
        png = osp.join(out_dir, 'Points', img_id + '.png')
        if overwrite or not (osp.isfile(xml) and osp.isfile(png)):
            todo.append((img_id, xml, png))
    print(f'points and boxes: {len(todo)} to compute, '
          f'{len(ids) - len(todo)} already in {out_dir}')
    bar = None
    if progress and todo:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(todo))
    num_boxes = num_pts = 0
    for img_id, xml, png in todo:
        mask_path = osp.join(masks, img_id + '.png')
        try:
            with Image.open(mask_path) as m:
                mask = np.asarray(m)
        except Exception as e:  # PIL raises many exception types
            raise PointsBoxesToolError(
                f'cannot read mask {mask_path}: {type(e).__name__}: {e}') \
                from e
        if mask.ndim != 2:
            raise PointsBoxesToolError(
                f'mask {mask_path} is not a single-channel label map '
                f'(shape {mask.shape})')
        bad = np.setdiff1d(np.unique(mask), [IGNORE])
        bad = bad[bad >= len(names)]
        if bad.size:
            raise PointsBoxesToolError(
                f'mask {mask_path} has values {bad.tolist()} beyond the '
                f'{len(names)} classes')
        img_path = osp.join(data_root, img_dir, img_id + img_suffix)
        if osp.isfile(img_path):
            with Image.open(img_path) as im:
                if im.size != (mask.shape[1], mask.shape[0]):
                    raise PointsBoxesToolError(
                        f'image {img_path} is {im.size[0]}x{im.size[1]} '
                        f'but its mask {mask_path} is '
                        f'{mask.shape[1]}x{mask.shape[0]}')
        points, boxes = points_and_boxes(mask, img_id, seed, num_points,
                                         min_area, connectivity)
        atomic_write_bytes(
            xml, voc_xml(img_id, mask.shape, boxes, names, img_suffix))
        save_palette_png(png, points, _palette())
        num_boxes += len(boxes)
        num_pts += int((points != IGNORE).sum())
        if bar is not None:
            bar.update()
    if bar is not None:
        print()
    meta.update(
        complete=True,
        num_images=len(ids),
        computed_this_run=len(todo),
        boxes_this_run=num_boxes,
        points_this_run=num_pts)
    write_json_atomic(osp.join(out_dir, META_FILE), meta)
    return meta


def _palette() -> list:
    from mmwsss.datasets.coco_utils import color_map
    return color_map(255)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Derive VOC XML boxes and point PNGs from masks, one '
        'per connected component (seeded, resumable)')
    parser.add_argument('data_root', help='dataset root in VOC layout')
    parser.add_argument('out_dir', help='output root')
    parser.add_argument(
        '--list', dest='split_file', help='one image id per line (default: '
        'every mask)')
    parser.add_argument('--mask-dir', default='SegmentationClass')
    parser.add_argument('--img-dir', default='JPEGImages')
    parser.add_argument('--img-suffix', default='.jpg')
    parser.add_argument(
        '--classes',
        default='voc',
        help="'voc' (default), 'coco', 'synthetic' or a file of class "
        'names, one per line, background first')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--points',
        type=int,
        default=1,
        help='points per connected component (default 1)')
    parser.add_argument(
        '--min-area',
        type=int,
        default=50,
        help='components with fewer pixels get nothing (default 50)')
    parser.add_argument('--connectivity', type=int, default=8)
    parser.add_argument('--overwrite', action='store_true')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        meta = convert_masks(args.data_root, args.out_dir, args.split_file,
                             args.mask_dir, args.img_dir, args.img_suffix,
                             args.classes, args.seed, args.points,
                             args.min_area, args.connectivity, args.overwrite)
    except (PointsBoxesToolError, OSError) as e:
        sys.exit(f'error: {e}')
    print(f'{meta["num_images"]} images: boxes in '
          f'{osp.join(args.out_dir, "Annotations")}, points in '
          f'{osp.join(args.out_dir, "Points")}')


if __name__ == '__main__':
    main()
