# Copyright (c) OpenMMLab. All rights reserved.
"""MS COCO 2014 as 81-class semantic segmentation with image-level labels.

Weakly supervised semantic segmentation papers (PSA/IRN on COCO, EPS, ...)
use MS COCO 2014 as a semantic segmentation benchmark with 81 classes:
background is ``0`` and the 80 "thing" categories, taken in the order of
their annotation-file category ids (``1..90`` with gaps), are mapped to the
contiguous labels ``1..80``. ``255`` marks pixels to ignore.

This module turns instance annotations (the ``instances_{split}.json``
files) into such label maps and label maps into the multi-hot image-level
labels (length 80, background excluded) stored in the de-facto
``cls_labels.npy`` format. Masks are decoded with ``pycocotools``.
"""
import warnings
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence

import numpy as np

__all__ = [
    'COCO_CLASSES', 'COCO_CATEGORY_IDS', 'COCO_PALETTE', 'color_map',
    'coco_category_to_label', 'CocoIndex', 'build_coco_index',
    'annotation_to_mask', 'anns_to_semantic', 'instances_to_semantic',
    'semantic_to_image_labels'
]

#: The 81 class names: ``'background'`` then the 80 COCO "thing" categories
#: in increasing category-id order.
COCO_CLASSES = (
    'background', 'person', 'bicycle', 'car', 'motorcycle', 'airplane',
    'bus', 'train', 'truck', 'boat', 'traffic light', 'fire hydrant',
    'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse',
    'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack',
    'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard',
    'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard',
    'surfboard', 'tennis racket', 'bottle', 'wine glass', 'cup', 'fork',
    'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
    'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair',
    'couch', 'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop',
    'mouse', 'remote', 'keyboard', 'cell phone', 'microwave', 'oven',
    'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors',
    'teddy bear', 'hair drier', 'toothbrush')

#: The standard COCO category ids of ``COCO_CLASSES[1:]`` (same order).
COCO_CATEGORY_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17,
                     18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34,
                     35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49,
                     50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
                     64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81,
                     82, 84, 85, 86, 87, 88, 89, 90)


def color_map(num: int = 256) -> List[tuple]:
    """Generate the PASCAL VOC style colour map (``labelcolormap``).

    The bits of label ``i`` are distributed over the colour channels, three
    at a time and starting from the most significant bit of each channel:
    bit ``3k`` goes to red, ``3k+1`` to green and ``3k+2`` to blue, each at
    bit position ``7 - k``.

    Args:
        num (int): Number of colours to generate. Defaults to 256.

    Returns:
        list[tuple]: ``num`` ``(r, g, b)`` tuples of ints in ``[0, 255]``.
    """
    colors = []
    for i in range(num):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colors.append((r, g, b))
    return colors


#: 81 RGB triples, VOC-style ``labelcolormap`` colours for labels 0..80.
COCO_PALETTE = tuple(color_map(len(COCO_CLASSES)))


def coco_category_to_label(categories: Sequence[Mapping],
                           strict: bool = True) -> Dict[int, int]:
    """Map COCO category ids to contiguous labels ``1..N``.

    Categories are sorted by id and numbered from 1 (0 is background), so
    the 80 standard categories map as ``{1: 1, 2: 2, ..., 13: 12, ...,
    90: 80}``.

    Args:
        categories (Sequence[Mapping]): The ``categories`` list of a COCO
            instances JSON; each item needs ``id`` and ``name``.
        strict (bool): If True, the categories must be exactly the 80
            standard COCO category names, whose id order must match
            :data:`COCO_CLASSES`. Defaults to True.

    Returns:
        dict[int, int]: Category id -> label in ``1..N``.

    Raises:
        ValueError: If category ids are duplicated, if there are more than
            254 categories (labels must fit in uint8 next to 255 = ignore),
            or, when ``strict``, if the names differ from the standard 80
            (the message lists missing and extra names) or are in a
            different id order.
    """
    cats = sorted(categories, key=lambda c: int(c['id']))
    ids = [int(c['id']) for c in cats]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f'duplicated category ids: {dup}')
    if len(cats) > 254:
        raise ValueError(f'{len(cats)} categories do not fit in a uint8 '
                         'label map (at most 254 besides 0 and 255)')
    if strict:
        names = [str(c['name']) for c in cats]
        expected = list(COCO_CLASSES[1:])
        missing = sorted(set(expected) - set(names))
        extra = sorted(set(names) - set(expected))
        if missing or extra or len(names) != len(expected):
            raise ValueError(
                'categories are not the 80 standard COCO categories: '
                f'{len(names)} given, missing {missing}, extra {extra} '
                '(pass strict=False to accept any category list)')
        if names != expected:
            wrong = [(i + 1, n, e) for i, (n, e) in enumerate(
                zip(names, expected)) if n != e]
            raise ValueError(
                'COCO categories sorted by id are not in the standard '
                f'order; (label, got, expected): {wrong[:5]}')
    return {cid: label for label, cid in enumerate(ids, start=1)}


class CocoIndex(NamedTuple):
    """Lookup tables of a COCO instances JSON.

    Attributes:
        images (dict[int, dict]): Image id -> image record.
        anns (dict[int, list[dict]]): Image id -> its annotations, in file
            order (images without annotations map to an empty list).
    """
    images: Dict[int, dict]
    anns: Dict[int, List[dict]]


def build_coco_index(coco_json: Mapping) -> CocoIndex:
    """Index a COCO instances JSON by image id.

    Args:
        coco_json (Mapping): Parsed ``instances_{split}.json``.

    Returns:
        CocoIndex: Images and annotations grouped by image id.
    """
    images = {int(img['id']): img for img in coco_json['images']}
    anns: Dict[int, List[dict]] = {img_id: [] for img_id in images}
    for ann in coco_json.get('annotations', []):
        anns.setdefault(int(ann['image_id']), []).append(ann)
    return CocoIndex(images, anns)


def _mask_utils():
    try:
        from pycocotools import mask as mask_utils
    except ImportError as e:  # pragma: no cover
        raise ImportError('pycocotools is required to rasterise COCO '
                          'annotations: pip install pycocotools') from e
    return mask_utils


def annotation_to_mask(segmentation, height: int, width: int) -> np.ndarray:
    """Rasterise one COCO ``segmentation`` field into a binary mask.

    Supported formats: a list of polygons ``[[x1, y1, x2, y2, ...], ...]``
    (their union is taken; polygons with fewer than 3 points are skipped),
    uncompressed RLE (``counts`` is a list of ints) and compressed RLE
    (``counts`` is a string or bytes).

    Args:
        segmentation (list | dict): The annotation's ``segmentation``.
        height (int): Image height.
        width (int): Image width.

    Returns:
        np.ndarray: ``(height, width)`` bool mask.

    Raises:
        ValueError: If an RLE's ``size`` is not ``[height, width]`` or the
            segmentation has an unknown format.
    """
    mask_utils = _mask_utils()
    if isinstance(segmentation, list):
        # frPyObjects would take a 4-number "polygon" for a bbox: drop
        # degenerate polygons (< 3 points) explicitly.
        polys = [[float(v) for v in p] for p in segmentation
                 if len(p) >= 6 and len(p) % 2 == 0]
        if not polys:
            return np.zeros((height, width), dtype=bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
    elif isinstance(segmentation, Mapping) and 'counts' in segmentation:
        size = [int(s) for s in segmentation['size']]
        if size != [height, width]:
            raise ValueError(f'RLE size {size} does not match the image '
                             f'size {[height, width]}')
        counts = segmentation['counts']
        if isinstance(counts, list):
            rle = mask_utils.frPyObjects(
                {
                    'size': size,
                    'counts': [int(c) for c in counts]
                }, height, width)
        else:
            if isinstance(counts, str):
                counts = counts.encode('ascii')
            rle = {'size': size, 'counts': counts}
    else:
        raise ValueError('unknown segmentation format: '
                         f'{type(segmentation).__name__}')
    with warnings.catch_warnings():
        # pycocotools' Cython masks predate numpy 2's ``copy`` keyword.
        warnings.filterwarnings(
            'ignore', message='__array__ implementation',
            category=DeprecationWarning)
        mask = mask_utils.decode(rle)
    return mask.astype(bool)


def anns_to_semantic(anns: Sequence[Mapping],
                     height: int,
                     width: int,
                     cat_to_label: Mapping[int, int],
                     crowd_as_ignore: bool = True,
                     ignore_index: int = 255) -> np.ndarray:
    """Rasterise the annotations of one image into a semantic label map.

    Rules:

    * background is 0, an instance of category ``c`` gets
      ``cat_to_label[c]``;
    * non-crowd instances are drawn in descending order of their
      rasterised area (pixel count; ties keep file order), so when
      instances overlap the smaller one stays on top;
    * crowd annotations (``iscrowd=1``) never cover a non-crowd instance:
      with ``crowd_as_ignore=True`` their remaining pixels become
      ``ignore_index``, otherwise they are drawn (also large to small)
      *under* all non-crowd instances with their class label.

    Args:
        anns (Sequence[Mapping]): The image's annotations.
        height (int): Image height.
        width (int): Image width.
        cat_to_label (Mapping[int, int]): Category id -> label, see
            :func:`coco_category_to_label`.
        crowd_as_ignore (bool): Whether uncovered crowd pixels are ignored.
            Defaults to True.
        ignore_index (int): Label of ignored pixels. Defaults to 255.

    Returns:
        np.ndarray: ``(height, width)`` uint8 label map.

    Raises:
        ValueError: If an annotation has a category not in
            ``cat_to_label``.
    """
    label_map = np.zeros((height, width), dtype=np.uint8)
    things, crowds = [], []
    for ann in anns:
        cat = int(ann['category_id'])
        if cat not in cat_to_label:
            raise ValueError(f'annotation {ann.get("id")} has unknown '
                             f'category id {cat}')
        mask = annotation_to_mask(ann['segmentation'], height, width)
        area = int(mask.sum())
        if area == 0:
            continue
        (crowds if ann.get('iscrowd', 0) else things).append(
            (area, cat_to_label[cat], mask))

    def by_area(items):
        # Stable sort: equal areas keep file order.
        return sorted(items, key=lambda item: -item[0])

    if not crowd_as_ignore:
        for _, label, mask in by_area(crowds):
            label_map[mask] = label
    covered = np.zeros((height, width), dtype=bool)
    for _, label, mask in by_area(things):
        label_map[mask] = label
        covered |= mask
    if crowd_as_ignore:
        for _, _, mask in crowds:
            label_map[mask & ~covered] = ignore_index
    return label_map


def instances_to_semantic(coco_json: Mapping,
                          image_id: int,
                          cat_to_label: Optional[Mapping[int, int]] = None,
                          crowd_as_ignore: bool = True,
                          ignore_index: int = 255,
                          index: Optional[CocoIndex] = None) -> np.ndarray:
    """Build the semantic label map of one image of a COCO instances JSON.

    See :func:`anns_to_semantic` for the rasterisation rules (polygons,
    compressed and uncompressed RLE, ``iscrowd=1``; larger instances first
    so smaller ones stay on top; uncovered crowd pixels -> ``ignore_index``
    when ``crowd_as_ignore``; background 0).

    Args:
        coco_json (Mapping): Parsed ``instances_{split}.json``.
        image_id (int): Id of the image.
        cat_to_label (Mapping[int, int], optional): Category id -> label.
            Defaults to ``coco_category_to_label(coco_json['categories'])``.
        crowd_as_ignore (bool): Whether uncovered crowd pixels are ignored.
            Defaults to True.
        ignore_index (int): Label of ignored pixels. Defaults to 255.
        index (CocoIndex, optional): Result of :func:`build_coco_index` for
            ``coco_json``; pass it when converting many images, otherwise
            the annotations are scanned on every call.

    Returns:
        np.ndarray: ``(height, width)`` uint8 label map.

    Raises:
        KeyError: If ``image_id`` is not in the JSON.
    """
    if cat_to_label is None:
        cat_to_label = coco_category_to_label(coco_json['categories'])
    image_id = int(image_id)
    if index is not None:
        img = index.images.get(image_id)
        anns = index.anns.get(image_id, [])
    else:
        img = next((i for i in coco_json['images']
                    if int(i['id']) == image_id), None)
        anns = [
            a for a in coco_json.get('annotations', [])
            if int(a['image_id']) == image_id
        ]
    if img is None:
        raise KeyError(f'image id {image_id} is not in the annotation file')
    return anns_to_semantic(anns, int(img['height']), int(img['width']),
                            cat_to_label, crowd_as_ignore, ignore_index)


def semantic_to_image_labels(label_map: np.ndarray,
                             num_classes: int = 81,
                             ignore_index: int = 255) -> np.ndarray:
    """Multi-hot image-level labels of a semantic label map.

    Args:
        label_map (np.ndarray): Integer label map.
        num_classes (int): Number of classes including background.
            Defaults to 81.
        ignore_index (int): Ignored label. Defaults to 255.

    Returns:
        np.ndarray: float32 vector of length ``num_classes - 1``; entry
        ``c - 1`` is 1 iff class ``c`` (``1 <= c < num_classes``) occurs.
        Background (0) and ``ignore_index`` are excluded.

    Raises:
        ValueError: If the map holds other values.
    """
    values = np.unique(np.asarray(label_map))
    values = values[(values != 0) & (values != ignore_index)]
    bad = values[(values < 0) | (values >= num_classes)]
    if bad.size:
        raise ValueError(f'label map has values {bad.tolist()} outside '
                         f'[0, {num_classes}) and != {ignore_index}')
    labels = np.zeros(num_classes - 1, dtype=np.float32)
    labels[values.astype(np.int64) - 1] = 1
    return labels
