# Copyright (c) OpenMMLab. All rights reserved.
"""A deterministic synthetic dataset for weakly supervised segmentation.

:func:`generate_synthetic_wsss` writes a small PASCAL-VOC-style dataset whose
images reproduce, in a controlled way, the phenomena that WSSS methods fight:

* **Dominant discriminative parts.** Every object has a large body drawn from a
  colour/texture distribution shared by all classes, plus a small
  class-specific part (10-25 % of its area, class colour and pattern). A
  classifier can solve the task from the part alone, so its CAM tends to cover
  the part only. Each class also has a distinctive silhouette.
* **Co-occurring context.** Boats sit on water, aeroplanes fly in the sky and
  cars drive on a road; each context also appears without its object, but
  rarely (15 % of the images without the object).
* **Several objects per image** with varied scales and partial occlusion, and
  about 10 % of background-only images.
* **Imperfect auxiliary cues**: blurred saliency maps with missed objects and
  false positives (as used by EPS), scribbles and point labels.

The layout on disk is::

    out_dir/
    ├── JPEGImages/<id>.jpg            RGB images (JPEG, quality 95)
    ├── SegmentationClass/<id>.png     'P' PNG, 0..5 and 255 (ignore band)
    ├── SaliencyImages/<id>.png        'L' PNG, 0..255
    ├── Scribbles/<id>.png             'P' PNG, 255 = unlabelled
    ├── Points/<id>.png                'P' PNG, 255 = unlabelled
    ├── Annotations/<id>.xml           VOC XML, one object per instance
    ├── ImageSets/Segmentation/{train,val,trainval}.txt
    └── meta.json

The label values are already 0..5, so read it with a dataset class whose
``METAINFO`` is empty or equal to ``SYNTHETIC_CLASSES`` (e.g.
``BaseSegDataset`` with ``metainfo=dict(classes=SYNTHETIC_CLASSES,
palette=SYNTHETIC_PALETTE)``), not with ``PascalVOCDataset``, whose 21-class
``METAINFO`` would make mmseg remap the labels.

Everything is a pure function of ``seed`` and the image index, so the same
arguments give byte-identical files.
"""
import colorsys
import json
import logging
import os
import os.path as osp
import shutil
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ['SYNTHETIC_CLASSES', 'SYNTHETIC_PALETTE', 'generate_synthetic_wsss']

SYNTHETIC_CLASSES = ('background', 'aeroplane', 'boat', 'car', 'person',
                     'cat')
SYNTHETIC_PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0],
                     [0, 0, 128], [128, 0, 128]]

_VERSION = 'mmwsss-synthetic-wsss-1'
_IGNORE = 255
_NUM_FG = len(SYNTHETIC_CLASSES) - 1

# Sub-directories of the generated dataset.
_IMG_DIR = 'JPEGImages'
_SEG_DIR = 'SegmentationClass'
_SAL_DIR = 'SaliencyImages'
_SCRIBBLE_DIR = 'Scribbles'
_POINT_DIR = 'Points'
_XML_DIR = 'Annotations'
_SPLIT_DIR = osp.join('ImageSets', 'Segmentation')

# Context regions: values of the context map of ``_render_sample``.
_CTX_NONE, _CTX_SKY, _CTX_WATER, _CTX_ROAD = 0, 1, 2, 3

# Probabilities of the generative process.
_P_BACKGROUND_ONLY = 0.1  # realised exactly: one image in every 10
_P_NUM_OBJECTS = (0.45, 0.35, 0.2)  # 1, 2 or 3 objects
_P_CONTEXT_WITHOUT_OBJECT = 0.15
_P_SALIENCY_MISS = 0.2
_P_SALIENCY_FALSE_POSITIVE = 0.3
_EXTENT_RANGE = (0.15, 0.55)  # longer object side / image side

# Rows [top, bottom) per context region.
_Bands = Dict[int, Tuple[int, int]]

# Independent random streams of one image.
_STREAM_PLAN, _STREAM_LAYOUT, _STREAM_SALIENCY = 0, 1, 2
_STREAM_SCRIBBLE, _STREAM_POINT = 3, 4


class _ClassSpec(NamedTuple):
    """Appearance and placement of one foreground class.

    ``size`` is (width, height) relative to the object extent; ``anchor`` the
    point of the object box (relative) that is placed inside ``context``.
    """
    size: Tuple[float, float]
    anchor: Tuple[float, float]
    context: int
    colours: Tuple[Tuple[int, int, int], Tuple[int, int, int]]
    pattern: str
    flippable: bool


_CLASS_SPECS: Dict[int, _ClassSpec] = {
    1: _ClassSpec((1.0, 0.6), (0.5, 0.5), _CTX_SKY,
                  ((225, 35, 35), (245, 245, 245)), 'hstripes', True),
    2: _ClassSpec((1.0, 0.85), (0.5, 0.8), _CTX_WATER,
                  ((245, 205, 20), (20, 20, 20)), 'checker', True),
    3: _ClassSpec((1.0, 0.5), (0.5, 0.8), _CTX_ROAD,
                  ((20, 225, 225), (15, 15, 15)), 'dots', True),
    4: _ClassSpec((0.45, 1.0), (0.5, 0.5), _CTX_NONE,
                  ((235, 20, 200), (250, 250, 250)), 'vstripes', False),
    5: _ClassSpec((1.0, 0.62), (0.5, 0.6), _CTX_NONE,
                  ((255, 140, 0), (70, 35, 10)), 'diagonal', True),
}
_CONTEXT_OF_CLASS = {c: s.context for c, s in _CLASS_SPECS.items()}


@dataclass
class _Instance:
    """One visible object of a rendered sample."""
    class_index: int
    anchor: Tuple[int, int]  # (x, y), inside the class context if any
    full_area: int  # pixels of the whole silhouette, also outside the image
    part_area: int  # pixels of the discriminative part of the silhouette
    mask: np.ndarray = field(repr=False)  # (H, W) bool, visible pixels
    part_mask: np.ndarray = field(repr=False)  # (H, W) bool, visible part
    truncated: bool = False
    occluded: bool = False

    @property
    def class_name(self) -> str:
        return SYNTHETIC_CLASSES[self.class_index]

    @property
    def bbox(self) -> Tuple[int, int, int, int]:
        """VOC box (xmin, ymin, xmax, ymax), 1-based and inclusive."""
        ys, xs = np.nonzero(self.mask)
        return (int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1,
                int(ys.max()) + 1)


@dataclass
class _Sample:
    """Everything rendered for one image (see :func:`_render_sample`)."""
    img_id: str
    split: str
    img: np.ndarray  # (H, W, 3) uint8 RGB, before JPEG compression
    gt: np.ndarray  # (H, W) uint8, 0..5 and 255 on object boundaries
    context: np.ndarray  # (H, W) uint8, one of the ``_CTX_*`` values
    instance_map: np.ndarray  # (H, W) int32, 0 = background, i + 1 = inst i
    instances: List[_Instance]
    saliency: np.ndarray  # (H, W) uint8
    scribbles: np.ndarray  # (H, W) uint8, 255 = unlabelled
    points: np.ndarray  # (H, W) uint8, 255 = unlabelled


# ----------------------------------------------------------------------------
# Small utilities
# ----------------------------------------------------------------------------
def _log(msg: str) -> None:
    """Log one line through mmengine when available."""
    try:
        from mmengine.logging import print_log
    except ImportError:  # pragma: no cover - mmengine is a dependency
        logging.getLogger(__name__).info(msg)
    else:
        print_log(msg, logger='current')


def _rng(stream: int, seed: int, *keys: int) -> np.random.Generator:
    """A generator that depends only on ``stream``, ``seed`` and ``keys``."""
    return np.random.default_rng(
        np.random.SeedSequence([stream, seed, *keys, len(keys)]))


def _voc_palette() -> List[int]:
    """The flat 256-entry PASCAL VOC palette (entry 255 is (224, 224, 192))."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.extend((r, g, b))
    return palette


_FLAT_PALETTE = _voc_palette()


def _erode(mask: np.ndarray,
           iterations: int = 1,
           border_value: bool = True) -> np.ndarray:
    """4-connected binary erosion.

    Args:
        mask (np.ndarray): (H, W) bool mask.
        iterations (int): Number of erosions. Defaults to 1.
        border_value (bool): Value of the pixels outside the image. With the
            default True the image border does not erode the mask, which
            matches :func:`_boundary_band`. Defaults to True.

    Returns:
        np.ndarray: The eroded (H, W) bool mask.
    """
    out = mask.astype(bool)
    for _ in range(iterations):
        eroded = out.copy()
        eroded[1:] &= out[:-1]
        eroded[:-1] &= out[1:]
        eroded[:, 1:] &= out[:, :-1]
        eroded[:, :-1] &= out[:, 1:]
        if not border_value:
            eroded[[0, -1]] = False
            eroded[:, [0, -1]] = False
        out = eroded
    return out


def _distance_map(mask: np.ndarray) -> np.ndarray:
    """City-block distance of every pixel of ``mask`` to its border.

    Pixels outside the image count as outside the mask, so pixels on the
    image border get distance 1; pixels off the mask get 0.
    """
    dist = np.zeros(mask.shape, np.int32)
    cur = mask.astype(bool)
    level = 0
    while cur.any():
        level += 1
        dist[cur] = level
        cur = _erode(cur, border_value=False)
    return dist


def _boundary_band(instance_map: np.ndarray) -> np.ndarray:
    """Object pixels with a 4-neighbour that belongs to another instance."""
    p = np.pad(instance_map, 1, mode='edge')
    diff = ((p[:-2, 1:-1] != instance_map) | (p[2:, 1:-1] != instance_map)
            | (p[1:-1, :-2] != instance_map) | (p[1:-1, 2:] != instance_map))
    return diff & (instance_map > 0)


def _smooth_noise(rng: np.random.Generator, height: int, width: int,
                  cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1] from an upsampled random grid."""
    grid = rng.random((cells, cells)).astype(np.float32)
    img = Image.fromarray(grid).resize((width, height), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32) * 2 - 1


def _muted_colour(rng: np.random.Generator,
                  saturation: Tuple[float, float] = (0.08, 0.35),
                  value: Tuple[float, float] = (0.3, 0.72)) -> np.ndarray:
    """A random low-saturation RGB colour (float32, 0..255)."""
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation),
                              rng.uniform(*value))
    return np.array(rgb, np.float32) * 255


def _jitter(rng: np.random.Generator, colour: Sequence[int],
            amount: float = 20) -> np.ndarray:
    """``colour`` plus a uniform per-channel offset of at most ``amount``."""
    return np.clip(
        np.asarray(colour, np.float32) + rng.uniform(-amount, amount, 3), 0,
        255)


def _paste(canvas: np.ndarray, patch: np.ndarray, x0: int, y0: int,
           where: Optional[np.ndarray] = None) -> None:
    """Write ``patch`` into ``canvas`` at (x0, y0), clipped to the canvas.

    Args:
        canvas (np.ndarray): Array of shape (H, W, ...), written in place.
        patch (np.ndarray): Array of shape (h, w, ...).
        x0 (int): Column of the patch's top-left corner (may be negative).
        y0 (int): Row of the patch's top-left corner (may be negative).
        where (np.ndarray, optional): (h, w) bool; only these patch pixels
            are written. Defaults to None (all).
    """
    height, width = canvas.shape[:2]
    h, w = patch.shape[:2]
    cy0, cx0 = max(y0, 0), max(x0, 0)
    cy1, cx1 = min(y0 + h, height), min(x0 + w, width)
    if cy0 >= cy1 or cx0 >= cx1:
        return
    sub = patch[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    if where is None:
        canvas[cy0:cy1, cx0:cx1] = sub
    else:
        keep = where[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        canvas[cy0:cy1, cx0:cx1][keep] = sub[keep]


def _place_mask(local: np.ndarray, size: int, x0: int,
                y0: int) -> np.ndarray:
    """A (size, size) bool mask holding ``local`` at (x0, y0)."""
    full = np.zeros((size, size), bool)
    _paste(full, local, x0, y0)
    return full


# ----------------------------------------------------------------------------
# Per-image plan
# ----------------------------------------------------------------------------
def _split_of(index: int, num_train: int, num_val: int) -> Tuple[str, int]:
    """The split of image ``index`` and its position inside that split."""
    if not 0 <= index < num_train + num_val:
        raise IndexError(f'image index {index} out of range '
                         f'[0, {num_train + num_val})')
    if index < num_train:
        return 'train', index
    return 'val', index - num_train


def _is_background_slot(seed: int, split: str, position: int) -> bool:
    """Whether ``position`` of ``split`` is a background-only image.

    Every block of 10 consecutive positions holds exactly one background-only
    image at a random offset (offsets 5..9 in the first block, whose first
    five positions are reserved for the forced classes).
    """
    block = position // 10
    rng = _rng(_STREAM_PLAN, seed, 0 if split == 'train' else 1, block)
    low = _NUM_FG if block == 0 else 0
    return position == block * 10 + int(rng.integers(low, 10))


def _image_classes(rng: np.random.Generator, seed: int, split: str,
                   position: int, split_size: int) -> List[int]:
    """Classes of the objects to draw, in drawing order.

    The first ``min(split_size, 5)`` images of a split are forced to contain
    the classes round-robin, so every class appears in every split.
    """
    if _is_background_slot(seed, split, position):
        return []
    slots = min(split_size, _NUM_FG)
    forced = [
        c for c in range(1, _NUM_FG + 1)
        if position < slots and (c - 1) % slots == position
    ]
    num = int(rng.choice(len(_P_NUM_OBJECTS), p=_P_NUM_OBJECTS)) + 1
    classes = list(forced)
    while len(classes) < num:
        classes.append(int(rng.integers(1, _NUM_FG + 1)))
    return classes


# ----------------------------------------------------------------------------
# Scene (background and context regions)
# ----------------------------------------------------------------------------
def _scene_layout(rng: np.random.Generator, size: int,
                  contexts: Sequence[int]) -> _Bands:
    """Rows [top, bottom) of each context band (water's top is wavy)."""
    bands = {}
    bottom = size
    if _CTX_WATER in contexts and _CTX_ROAD in contexts:
        heights = {c: rng.uniform(0.2, 0.27) for c in (_CTX_WATER, _CTX_ROAD)}
    else:
        heights = {c: rng.uniform(0.3, 0.45) for c in contexts}
    for ctx in (_CTX_WATER, _CTX_ROAD):  # water lowest, road above it
        if ctx in contexts:
            top = bottom - int(round(heights[ctx] * size))
            bands[ctx] = (top, bottom)
            bottom = top
    if _CTX_SKY in contexts:
        sky = int(round(rng.uniform(0.3, 0.45) * size))
        bands[_CTX_SKY] = (0, min(sky, bottom - int(0.08 * size)))
    return bands


def _render_scene(rng: np.random.Generator, size: int,
                  contexts: Sequence[int]
                  ) -> Tuple[np.ndarray, np.ndarray, _Bands]:
    """Draw the background, clutter and context bands.

    Args:
        rng (np.random.Generator): Random generator.
        size (int): Side of the image.
        contexts (Sequence[int]): Context regions (``_CTX_*``) to draw.

    Returns:
        tuple: ``(img, context, safe_rows)``: float32 (S, S, 3) image, uint8
        context map and, per context, rows [top, bottom) that lie inside it
        in every column.
    """
    rows = np.arange(size, dtype=np.float32)[:, None]
    cols = np.arange(size, dtype=np.float32)[None, :]
    img = np.empty((size, size, 3), np.float32)
    img[:] = _muted_colour(rng, value=(0.35, 0.7))
    img += 25 * _smooth_noise(rng, size, size, 4)[..., None]
    img += rng.uniform(-15, 15) * (rows / size - 0.5)[..., None]
    img += 10 * np.stack(
        [_smooth_noise(rng, size, size, 8) for _ in range(3)], -1)
    _draw_clutter(rng, img, size)

    context = np.zeros((size, size), np.uint8)
    bands = _scene_layout(rng, size, contexts)
    safe = {}
    if _CTX_SKY in bands:
        top, bottom = bands[_CTX_SKY]
        c_top = _jitter(rng, (120, 170, 230), 20)
        c_bottom = _jitter(rng, (215, 228, 245), 12)
        t = (rows[top:bottom] / max(bottom - 1, 1))[..., None]
        sky = c_top * (1 - t) + c_bottom * t
        clouds = np.clip(_smooth_noise(rng, size, size, 5), 0, 1)
        sky = sky + 30 * clouds[top:bottom, :, None]
        img[top:bottom] = sky
        context[top:bottom] = _CTX_SKY
        safe[_CTX_SKY] = (top, bottom)
    if _CTX_ROAD in bands:
        top, bottom = bands[_CTX_ROAD]
        grey = rng.uniform(85, 125)
        road = grey + 8 * _smooth_noise(rng, size, size, 10)[top:bottom]
        img[top:bottom] = road[..., None] + rng.uniform(-4, 4, 3)
        mid = (top + bottom) // 2
        thick = max(1, size // 48)
        period = max(8, size // 6)
        phase = rng.integers(period)
        dashes = ((np.arange(size) + phase) % period) < period // 2
        img[mid - thick // 2:mid - thick // 2 + thick, dashes] = _jitter(
            rng, (225, 220, 190), 10)
        context[top:bottom] = _CTX_ROAD
        safe[_CTX_ROAD] = (top, bottom)
    if _CTX_WATER in bands:
        top, bottom = bands[_CTX_WATER]
        amp = max(1.0, size / 48)
        wavelength = rng.uniform(0.25, 0.5) * size
        edge = top + amp * np.sin(2 * np.pi * cols[0] / wavelength +
                                  rng.uniform(0, 2 * np.pi))
        water = rows >= np.round(edge)[None, :]
        period = rng.uniform(0.07, 0.11) * size
        waves = np.sin(2 * np.pi * (rows / period + 0.3 * np.sin(
            2 * np.pi * cols / (0.3 * size) + rng.uniform(0, 2 * np.pi))))
        base = _jitter(rng, (40, 90, 170), 18)
        texture = base + 28 * np.clip(waves, 0, 1)[..., None]
        img[water] = texture[water]
        context[water] = _CTX_WATER
        safe[_CTX_WATER] = (min(int(np.ceil(top + amp)) + 1, bottom - 1),
                            bottom)
    return img, context, safe


def _draw_clutter(rng: np.random.Generator, img: np.ndarray,
                  size: int) -> None:
    """Draw 0-3 muted blobs that look like object bodies (distractors)."""
    for _ in range(int(rng.integers(0, 4))):
        w = max(2, int(rng.uniform(0.08, 0.25) * size))
        h = max(2, int(rng.uniform(0.08, 0.25) * size))
        canvas = Image.new('L', (w, h), 0)
        draw = ImageDraw.Draw(canvas)
        if rng.random() < 0.5:
            draw.ellipse([0, 0, w - 1, h - 1], fill=1)
        else:
            draw.rectangle([0, 0, w - 1, h - 1], fill=1)
        blob = np.asarray(canvas, bool)
        patch = _body_texture(rng, h, w)
        _paste(img, patch, int(rng.integers(-w // 2, size - w // 2)),
               int(rng.integers(-h // 2, size - h // 2)), where=blob)


# ----------------------------------------------------------------------------
# Objects
# ----------------------------------------------------------------------------
def _class_silhouette(class_index: int, w: int,
                      h: int) -> Tuple[np.ndarray, np.ndarray]:
    """Rasterise the silhouette and discriminative part of a class.

    Args:
        class_index (int): Foreground class index (1..5).
        w (int): Width of the object box in pixels.
        h (int): Height of the object box in pixels.

    Returns:
        tuple[np.ndarray, np.ndarray]: (h, w) bool masks of the whole object
        and of its discriminative part (a subset of the object).
    """
    body = Image.new('L', (w, h), 0)
    part = Image.new('L', (w, h), 0)
    draw_body, draw_part = ImageDraw.Draw(body), ImageDraw.Draw(part)

    def pts(points):
        return [(x * (w - 1), y * (h - 1)) for x, y in points]

    def box(x0, y0, x1, y1):
        return [x0 * (w - 1), y0 * (h - 1), x1 * (w - 1), y1 * (h - 1)]

    if class_index == 1:  # aeroplane: fuselage, swept wings, tail fin
        draw_body.ellipse(box(0.0, 0.40, 1.0, 0.60), fill=1)
        draw_body.polygon(pts([(0.5, 0.45), (0.3, 0.02), (0.42, 0.02),
                               (0.7, 0.45)]), fill=1)
        draw_body.polygon(pts([(0.5, 0.55), (0.3, 0.98), (0.42, 0.98),
                               (0.7, 0.55)]), fill=1)
        draw_body.polygon(pts([(0.0, 0.5), (0.02, 0.08), (0.12, 0.08),
                               (0.24, 0.5)]), fill=1)
        draw_part.rectangle(box(0.0, 0.0, 0.17, 1.0), fill=1)  # the tail
    elif class_index == 2:  # boat: hull, cabin, mast and a sail (the part)
        draw_body.polygon(pts([(0.0, 0.62), (1.0, 0.62), (0.8, 1.0),
                               (0.2, 1.0)]), fill=1)
        draw_body.rectangle(box(0.28, 0.48, 0.6, 0.62), fill=1)
        draw_body.rectangle(box(0.46, 0.04, 0.52, 0.62), fill=1)
        sail = pts([(0.53, 0.06), (0.53, 0.46), (0.9, 0.46)])
        draw_body.polygon(sail, fill=1)
        draw_part.polygon(sail, fill=1)
    elif class_index == 3:  # car: body, cabin and two wheels (the part)
        draw_body.rectangle(box(0.0, 0.42, 1.0, 0.8), fill=1)
        draw_body.polygon(pts([(0.18, 0.42), (0.3, 0.05), (0.7, 0.05),
                               (0.84, 0.42)]), fill=1)
        for x in (0.11, 0.69):
            wheel = box(x, 0.66, x + 0.19, 1.0)
            draw_body.ellipse(wheel, fill=1)
            draw_part.ellipse(wheel, fill=1)
    elif class_index == 4:  # person: head (the part), torso, arms, legs
        head = box(0.28, 0.0, 0.72, 0.19)
        draw_body.ellipse(head, fill=1)
        draw_part.ellipse(head, fill=1)
        draw_body.polygon(pts([(0.22, 0.2), (0.78, 0.2), (0.7, 0.58),
                               (0.3, 0.58)]), fill=1)
        draw_body.polygon(pts([(0.22, 0.2), (0.0, 0.5), (0.12, 0.53),
                               (0.3, 0.3)]), fill=1)
        draw_body.polygon(pts([(0.78, 0.2), (1.0, 0.5), (0.88, 0.53),
                               (0.7, 0.3)]), fill=1)
        draw_body.rectangle(box(0.3, 0.56, 0.47, 1.0), fill=1)
        draw_body.rectangle(box(0.53, 0.56, 0.7, 1.0), fill=1)
    elif class_index == 5:  # cat: body, legs, tail and head+ears (the part)
        draw_body.ellipse(box(0.08, 0.38, 0.76, 0.85), fill=1)
        draw_body.rectangle(box(0.16, 0.7, 0.24, 1.0), fill=1)
        draw_body.rectangle(box(0.56, 0.7, 0.64, 1.0), fill=1)
        draw_body.polygon(pts([(0.1, 0.6), (0.0, 0.12), (0.07, 0.1),
                               (0.17, 0.55)]), fill=1)
        for draw in (draw_body, draw_part):
            draw.ellipse(box(0.68, 0.24, 0.95, 0.56), fill=1)
            draw.polygon(pts([(0.7, 0.32), (0.73, 0.08), (0.8, 0.26)]),
                         fill=1)
            draw.polygon(pts([(0.84, 0.26), (0.9, 0.08), (0.94, 0.32)]),
                         fill=1)
    else:
        raise ValueError(f'invalid foreground class {class_index}')
    shape = np.asarray(body, bool)
    return shape, np.asarray(part, bool) & shape


def _body_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A muted, noisy texture shared by all classes (float32, (h, w, 3))."""
    colour = _muted_colour(rng)
    shade = 22 * _smooth_noise(rng, h, w, 3)[..., None]
    grain = rng.uniform(-12, 12, (h, w, 1)).astype(np.float32)
    return colour + shade + grain


def _part_texture(rng: np.random.Generator, class_index: int, h: int, w: int,
                  size: int) -> np.ndarray:
    """The class-specific colour pattern of a discriminative part."""
    spec = _CLASS_SPECS[class_index]
    period = max(4, int(round(size / 16)))
    half = period / 2
    yy, xx = np.mgrid[0:h, 0:w]
    if spec.pattern == 'hstripes':
        first = (yy // half) % 2 == 0
    elif spec.pattern == 'vstripes':
        first = (xx // half) % 2 == 0
    elif spec.pattern == 'checker':
        first = ((yy // half) + (xx // half)) % 2 == 0
    elif spec.pattern == 'diagonal':
        first = ((xx + yy) // half) % 2 == 0
    else:  # dots
        dy, dx = yy % period - half + 0.5, xx % period - half + 0.5
        first = dy * dy + dx * dx <= (period / 3)**2
    colour_a = _jitter(rng, spec.colours[0], 15)
    colour_b = _jitter(rng, spec.colours[1], 15)
    return np.where(first[..., None], colour_a, colour_b).astype(np.float32)


def _sample_anchor(rng: np.random.Generator, class_index: int, size: int,
                   safe_rows: _Bands) -> Tuple[int, int]:
    """A point (x, y) of the image where the object will be anchored."""
    x = int(rng.uniform(0.1, 0.9) * size)
    ctx = _CONTEXT_OF_CLASS[class_index]
    if ctx in safe_rows:
        top, bottom = safe_rows[ctx]
        margin = int(0.15 * (bottom - top))
        y = int(rng.integers(top + margin, max(bottom - margin,
                                               top + margin + 1)))
    else:
        y = int(rng.uniform(0.2, 0.85) * size)
    return x, min(max(y, 0), size - 1)


def _try_place(rng: np.random.Generator, class_index: int, size: int,
               safe_rows: _Bands, instance_map: np.ndarray,
               full_areas: List[int]) -> Optional[dict]:
    """Sample one object placement; None when it breaks the constraints.

    A placement is kept when at least 70 % of the new object lies inside the
    image and every earlier object keeps at least half of its area visible
    (plus some pixels off the ignore band).
    """
    spec = _CLASS_SPECS[class_index]
    extent = rng.uniform(*_EXTENT_RANGE) * size
    w = max(3, int(round(spec.size[0] * extent)))
    h = max(3, int(round(spec.size[1] * extent)))
    shape, part = _class_silhouette(class_index, w, h)
    if spec.flippable and rng.random() < 0.5:
        shape, part = shape[:, ::-1], part[:, ::-1]
    ax, ay = _sample_anchor(rng, class_index, size, safe_rows)
    x0 = int(round(ax - spec.anchor[0] * w))
    y0 = int(round(ay - spec.anchor[1] * h))
    full_area = int(shape.sum())
    placed = _place_mask(shape, size, x0, y0)
    if full_area == 0 or placed.sum() < 0.7 * full_area:
        return None
    if not _erode(placed).any():
        return None
    for k, area in enumerate(full_areas):
        remaining = (instance_map == k + 1) & ~placed
        if remaining.sum() < 0.5 * area or not _erode(remaining).any():
            return None
    return dict(shape=shape, part=part, x0=x0, y0=y0, anchor=(ax, ay),
                placed=placed, full_area=full_area,
                part_area=int(part.sum()), truncated=bool(
                    placed.sum() < full_area))


def _draw_objects(rng: np.random.Generator,
                  img: np.ndarray,
                  size: int,
                  classes: Sequence[int],
                  safe_rows: _Bands,
                  max_tries: int = 30) -> Tuple[np.ndarray, List[dict]]:
    """Draw the objects in order; later ones occlude earlier ones.

    Returns:
        tuple: (instance_map, placements): int32 (S, S) map of instance ids
        (0 = background, i + 1 = ``placements[i]``) and the kept placements
        with their class index added.
    """
    instance_map = np.zeros((size, size), np.int32)
    placements = []
    for class_index in classes:
        for _ in range(max_tries):
            placement = _try_place(rng, class_index, size, safe_rows,
                                   instance_map,
                                   [p['full_area'] for p in placements])
            if placement is not None:
                break
        else:  # no valid placement found; drop the object
            continue
        h, w = placement['shape'].shape
        patch = _body_texture(rng, h, w)
        patch = np.where(placement['part'][..., None],
                         _part_texture(rng, class_index, h, w, size), patch)
        _paste(img, patch, placement['x0'], placement['y0'],
               where=placement['shape'])
        instance_map[placement['placed']] = len(placements) + 1
        placement['class_index'] = class_index
        placements.append(placement)
    return instance_map, placements


def _photometric(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Random brightness/contrast and Gaussian noise; returns uint8."""
    contrast = rng.uniform(0.8, 1.2)
    brightness = rng.uniform(-20, 20)
    mean = img.mean()
    img = (img - mean) * contrast + mean + brightness
    img = img + rng.normal(0, rng.uniform(3, 8), img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------
# Auxiliary cues: saliency, scribbles, points
# ----------------------------------------------------------------------------
def _random_pixel(rng: np.random.Generator,
                  region: np.ndarray) -> Tuple[int, int]:
    """A uniformly random (y, x) of a non-empty bool ``region``."""
    ys, xs = np.nonzero(region)
    i = int(rng.integers(len(ys)))
    return int(ys[i]), int(xs[i])


def _make_saliency(rng: np.random.Generator, sample: _Sample) -> np.ndarray:
    """An imperfect saliency map, like an off-the-shelf detector's.

    The visible foreground, with each object dropped with probability 0.2 and
    a false-positive blob (preferably on a context region) with probability
    0.3, is Gaussian-blurred and scaled by a random global factor.
    """
    size = sample.gt.shape[0]
    fg = np.zeros((size, size), np.float32)
    for inst in sample.instances:
        if rng.random() >= _P_SALIENCY_MISS:
            fg[inst.mask] = 1
    if rng.random() < _P_SALIENCY_FALSE_POSITIVE:
        free = sample.instance_map == 0
        region = free & (sample.context > 0)
        if not region.any():
            region = free
        if region.any():
            cy, cx = _random_pixel(rng, region)
            ry, rx = rng.uniform(0.06, 0.14, 2) * size
            canvas = Image.new('L', (size, size), 0)
            ImageDraw.Draw(canvas).ellipse(
                [cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
            blob = np.asarray(canvas, np.float32) / 255
            fg = np.maximum(fg, blob * rng.uniform(0.6, 1.0))
    sigma = rng.uniform(0.6, 1.5) * size / 64
    blurred = Image.fromarray(np.round(fg * 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(sigma))
    sal = np.asarray(blurred, np.float32) * rng.uniform(0.7, 1.0)
    sal += rng.normal(0, 2, sal.shape)
    return np.clip(np.round(sal), 0, 255).astype(np.uint8)


def _stroke(rng: np.random.Generator, region: np.ndarray, width: int,
            reach: float) -> np.ndarray:
    """A thin polyline through 3 points of ``region``, clipped to it.

    Args:
        rng (np.random.Generator): Random generator.
        region (np.ndarray): Non-empty (H, W) bool mask.
        width (int): Line width in pixels.
        reach (float): Maximum distance of the points from the first one.

    Returns:
        np.ndarray: (H, W) bool mask of the stroke, a subset of ``region``.
    """
    ys, xs = np.nonzero(region)
    start = int(rng.integers(len(ys)))
    near = np.nonzero((ys - ys[start])**2 + (xs - xs[start])**2 <=
                      reach**2)[0]
    chosen = [start] + [int(i) for i in rng.choice(near, 2)]
    points = sorted((int(xs[i]), int(ys[i])) for i in chosen)
    if np.ptp(ys[chosen]) > np.ptp(xs[chosen]):
        points.sort(key=lambda p: p[1])
    canvas = Image.new('L', region.shape[::-1], 0)
    ImageDraw.Draw(canvas).line(points, fill=1, width=width)
    stroke = np.asarray(canvas, bool).copy()
    for x, y in points:
        stroke[y, x] = True
    return stroke & region


def _make_scribbles(rng: np.random.Generator, sample: _Sample) -> np.ndarray:
    """Scribble labels: 1-2 thin strokes inside every object's eroded
    interior and 1-3 background strokes; 255 elsewhere."""
    size = sample.gt.shape[0]
    scribbles = np.full((size, size), _IGNORE, np.uint8)
    scale = max(1, size // 128)
    for inst in sample.instances:
        region = _erode(inst.mask, 2)
        if not region.any():
            region = _erode(inst.mask, 1)
        num = 2 if region.sum() > 0.02 * size * size and \
            rng.random() < 0.4 else 1
        for _ in range(num):
            stroke = _stroke(rng, region, int(rng.integers(1, 3)) * scale,
                             0.4 * size)
            scribbles[stroke] = inst.class_index
    background = _erode(sample.instance_map == 0, 2)
    if background.any():
        for _ in range(int(rng.integers(1, 4))):
            stroke = _stroke(rng, background, int(rng.integers(1, 3)) * scale,
                             0.3 * size)
            scribbles[stroke] = 0
    return scribbles


def _make_points(rng: np.random.Generator, sample: _Sample) -> np.ndarray:
    """Point labels: one pixel per object, far from its border, and one or
    two background pixels; 255 elsewhere."""
    size = sample.gt.shape[0]
    points = np.full((size, size), _IGNORE, np.uint8)
    for inst in sample.instances:
        dist = _distance_map(inst.mask)
        if dist.max() < 2:  # touches the image border everywhere
            dist = _distance_map(_erode(inst.mask)) + 1
        threshold = max(2, int(np.ceil(dist.max() / 2)))
        y, x = _random_pixel(rng, dist >= threshold)
        points[y, x] = inst.class_index
    dist = _distance_map(sample.instance_map == 0)
    if dist.max() >= 2:
        ys, xs = np.nonzero(dist >= max(2, int(np.ceil(dist.max() / 2))))
        num = min(len(ys), int(rng.integers(1, 3)))
        for i in rng.choice(len(ys), num, replace=False):
            points[ys[i], xs[i]] = 0
    return points


# ----------------------------------------------------------------------------
# A whole sample
# ----------------------------------------------------------------------------
def _render_sample(index: int,
                   seed: int = 0,
                   image_size: int = 96,
                   num_train: int = 300,
                   num_val: int = 100) -> _Sample:
    """Render image ``index`` of a dataset without writing anything.

    Args:
        index (int): Global image index; train images come first.
        seed (int): Dataset seed. Defaults to 0.
        image_size (int): Side of the square images. Defaults to 96.
        num_train (int): Number of training images. Defaults to 300.
        num_val (int): Number of validation images. Defaults to 100.

    Returns:
        _Sample: The image, its labels, context map, instances and cues.
    """
    split, position = _split_of(index, num_train, num_val)
    split_size = num_train if split == 'train' else num_val
    size = image_size
    rng = _rng(_STREAM_LAYOUT, seed, index)
    classes = _image_classes(rng, seed, split, position, split_size)
    contexts = [
        ctx for c, ctx in ((1, _CTX_SKY), (2, _CTX_WATER), (3, _CTX_ROAD))
        if c in classes or rng.random() < _P_CONTEXT_WITHOUT_OBJECT
    ]
    img, context, safe_rows = _render_scene(rng, size, contexts)
    instance_map, placements = _draw_objects(rng, img, size, classes,
                                             safe_rows)
    img = _photometric(rng, img)

    class_lut = np.array([0] + [p['class_index'] for p in placements],
                         np.uint8)
    gt = class_lut[instance_map]
    gt[_boundary_band(instance_map)] = _IGNORE
    instances = []
    for k, p in enumerate(placements):
        mask = instance_map == k + 1
        part = _place_mask(p['part'], size, p['x0'], p['y0']) & mask
        instances.append(
            _Instance(
                class_index=p['class_index'],
                anchor=p['anchor'],
                full_area=p['full_area'],
                part_area=p['part_area'],
                mask=mask,
                part_mask=part,
                truncated=p['truncated'],
                occluded=bool(mask.sum() < p['placed'].sum())))
    empty = np.zeros((size, size), np.uint8)
    sample = _Sample(
        img_id=f'syn_{index:06d}',
        split=split,
        img=img,
        gt=gt,
        context=context,
        instance_map=instance_map,
        instances=instances,
        saliency=empty,
        scribbles=empty,
        points=empty)
    sample.saliency = _make_saliency(_rng(_STREAM_SALIENCY, seed, index),
                                     sample)
    sample.scribbles = _make_scribbles(_rng(_STREAM_SCRIBBLE, seed, index),
                                       sample)
    sample.points = _make_points(_rng(_STREAM_POINT, seed, index), sample)
    return sample


# ----------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------
def _save_palette_png(label: np.ndarray, path: str) -> None:
    """Save a label map as a 'P' PNG with the VOC palette."""
    img = Image.fromarray(label)
    img.putpalette(_FLAT_PALETTE)
    img.save(path, format='PNG')


def _voc_xml(sample: _Sample) -> bytes:
    """The VOC XML annotation of a sample."""
    size = sample.gt.shape[0]
    root = ET.Element('annotation')
    ET.SubElement(root, 'folder').text = 'synthetic'
    ET.SubElement(root, 'filename').text = f'{sample.img_id}.jpg'
    source = ET.SubElement(root, 'source')
    ET.SubElement(source, 'database').text = 'mmwsss synthetic WSSS'
    size_el = ET.SubElement(root, 'size')
    ET.SubElement(size_el, 'width').text = str(size)
    ET.SubElement(size_el, 'height').text = str(size)
    ET.SubElement(size_el, 'depth').text = '3'
    ET.SubElement(root, 'segmented').text = '1'
    for inst in sample.instances:
        obj = ET.SubElement(root, 'object')
        ET.SubElement(obj, 'name').text = inst.class_name
        ET.SubElement(obj, 'pose').text = 'Unspecified'
        ET.SubElement(obj, 'truncated').text = str(int(inst.truncated))
        ET.SubElement(obj, 'occluded').text = str(int(inst.occluded))
        ET.SubElement(obj, 'difficult').text = '0'
        bndbox = ET.SubElement(obj, 'bndbox')
        for key, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), inst.bbox):
            ET.SubElement(bndbox, key).text = str(value)
    ET.indent(root, space='\t')
    return ET.tostring(root, encoding='utf-8') + b'\n'


def _write_sample(sample: _Sample, root: str) -> None:
    """Write every file of one sample under the dataset root ``root``."""
    name = sample.img_id
    Image.fromarray(sample.img).save(
        osp.join(root, _IMG_DIR, f'{name}.jpg'),
        format='JPEG',
        quality=95,
        subsampling=2,
        optimize=False)
    _save_palette_png(sample.gt, osp.join(root, _SEG_DIR, f'{name}.png'))
    Image.fromarray(sample.saliency).save(
        osp.join(root, _SAL_DIR, f'{name}.png'), format='PNG')
    _save_palette_png(sample.scribbles,
                      osp.join(root, _SCRIBBLE_DIR, f'{name}.png'))
    _save_palette_png(sample.points, osp.join(root, _POINT_DIR,
                                              f'{name}.png'))
    with open(osp.join(root, _XML_DIR, f'{name}.xml'), 'wb') as f:
        f.write(_voc_xml(sample))


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_text(path: str, text: str) -> None:
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)


def _generate_into(root: str, params: dict) -> dict:
    """Render and write the whole dataset into ``root``; returns the meta.

    ``meta.json`` is written last, so its presence marks a complete dataset.
    """
    for sub in (_IMG_DIR, _SEG_DIR, _SAL_DIR, _SCRIBBLE_DIR, _POINT_DIR,
                _XML_DIR, _SPLIT_DIR):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    num_train, num_val = params['num_train'], params['num_val']
    ids = {'train': [], 'val': []}
    class_counts = {
        s: {name: 0
            for name in SYNTHETIC_CLASSES}
        for s in ('train', 'val')
    }
    background_only = {'train': 0, 'val': 0}
    for index in range(num_train + num_val):
        sample = _render_sample(index, params['seed'], params['image_size'],
                                num_train, num_val)
        _write_sample(sample, root)
        ids[sample.split].append(sample.img_id)
        present = np.unique(sample.gt)
        for c in present[present != _IGNORE]:
            class_counts[sample.split][SYNTHETIC_CLASSES[int(c)]] += 1
        background_only[sample.split] += int(not sample.instances)
    ids['trainval'] = ids['train'] + ids['val']
    for split, split_ids in ids.items():
        _write_text(
            osp.join(root, _SPLIT_DIR, f'{split}.txt'),
            ''.join(f'{i}\n' for i in split_ids))
    class_counts['trainval'] = {
        name: class_counts['train'][name] + class_counts['val'][name]
        for name in SYNTHETIC_CLASSES
    }
    background_only['trainval'] = sum(background_only.values())
    splits = {
        split: dict(
            num_images=len(ids[split]),
            num_background_only=background_only[split],
            class_image_counts=class_counts[split])
        for split in ('train', 'val', 'trainval')
    }
    for split in ('train', 'val'):
        missing = [n for n, c in class_counts[split].items() if c == 0]
        if missing:
            _log(f'synthetic WSSS: classes {missing} are missing from the '
                 f'{split} split (split too small?)')
    meta = dict(
        version=_VERSION,
        seed=params['seed'],
        params=params,
        classes=list(SYNTHETIC_CLASSES),
        palette=SYNTHETIC_PALETTE,
        ignore_index=_IGNORE,
        splits=splits,
        layout=dict(
            img_dir=_IMG_DIR,
            seg_map_dir=_SEG_DIR,
            saliency_dir=_SAL_DIR,
            scribble_dir=_SCRIBBLE_DIR,
            point_dir=_POINT_DIR,
            xml_dir=_XML_DIR,
            split_dir=_SPLIT_DIR.replace(os.sep, '/'),
            img_suffix='.jpg',
            seg_map_suffix='.png'))
    _write_text(
        osp.join(root, 'meta.json'),
        json.dumps(meta, indent=2, sort_keys=True) + '\n')
    return meta


def _read_params(out_dir: str) -> Optional[dict]:
    """The ``params`` of an existing dataset, None if it has no meta.json."""
    path = osp.join(out_dir, 'meta.json')
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            return dict(json.load(f).get('params', {}))
    except (OSError, ValueError):
        return {}


def _differing_keys(existing: dict, requested: dict) -> List[str]:
    return sorted(k for k in set(existing) | set(requested)
                  if existing.get(k) != requested.get(k))


def _is_up_to_date(out_dir: str, params: dict, overwrite: bool) -> bool:
    """Check an existing ``out_dir``.

    Returns:
        bool: True if it already holds the requested dataset, False if it has
        to be (re)generated.

    Raises:
        ValueError: If it holds something else and ``overwrite`` is False.
    """
    if not osp.exists(out_dir):
        return False
    if not osp.isdir(out_dir):
        raise ValueError(f'{out_dir} exists and is not a directory')
    existing = _read_params(out_dir)
    if existing is None:
        if not os.listdir(out_dir) or overwrite:
            return False
        raise ValueError(f'{out_dir} exists, is not empty and has no '
                         'meta.json; pass overwrite=True to replace it')
    differing = _differing_keys(existing, params)
    if not differing:
        return True
    if overwrite:
        return False
    raise ValueError(
        f'{out_dir} holds a synthetic dataset generated with different '
        f'parameters: {", ".join(differing)} (existing '
        f'{ {k: existing.get(k) for k in differing} }, requested '
        f'{ {k: params.get(k) for k in differing} }); pass overwrite=True '
        'to regenerate it')


def _publish(tmp_dir: str, out_dir: str, params: dict,
             overwrite: bool) -> None:
    """Move the finished ``tmp_dir`` to ``out_dir``; first rename wins."""
    for _ in range(3):
        try:
            os.rename(tmp_dir, out_dir)  # atomic; fails on non-empty dirs
            return
        except OSError:
            if not osp.isdir(out_dir):
                raise
        if _is_up_to_date(out_dir, params, overwrite):
            _log(f'synthetic WSSS dataset {out_dir} was written by another '
                 'process; using it')
            return
        # overwrite=True and out_dir holds something else: swap it out.
        trash = tempfile.mkdtemp(
            prefix=f'.{osp.basename(out_dir)}.old-',
            dir=osp.dirname(out_dir))
        try:
            os.rename(out_dir, osp.join(trash, 'old'))
        except FileNotFoundError:  # somebody else moved it meanwhile
            pass
        finally:
            shutil.rmtree(trash, ignore_errors=True)
    raise RuntimeError(f'could not publish the dataset to {out_dir}')


def generate_synthetic_wsss(out_dir: str,
                            num_train: int = 300,
                            num_val: int = 100,
                            image_size: int = 96,
                            seed: int = 0,
                            overwrite: bool = False) -> str:
    """Generate the synthetic WSSS dataset in PASCAL VOC layout.

    The dataset is rendered into a temporary sibling directory that is
    renamed to ``out_dir`` at the end, so ``out_dir`` is either absent or
    complete. Several processes may call this at once: the first rename
    wins, the others discard their copy. Identical arguments give
    byte-identical files.

    Args:
        out_dir (str): Root directory of the dataset.
        num_train (int): Number of training images. Defaults to 300.
        num_val (int): Number of validation images. Defaults to 100.
        image_size (int): Side of the square images, at least 32.
            Defaults to 96.
        seed (int): Seed of every random choice. Defaults to 0.
        overwrite (bool): Replace an existing ``out_dir`` generated with
            other parameters (or without ``meta.json``) instead of raising.
            Defaults to False.

    Returns:
        str: ``out_dir``.

    Raises:
        ValueError: If an argument is invalid, or ``out_dir`` exists with
            different parameters (the message names the differing keys) and
            ``overwrite`` is False.
    """
    for name, value, low in (('num_train', num_train, 1),
                             ('num_val', num_val, 1),
                             ('image_size', image_size, 32), ('seed', seed,
                                                              0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer))\
                or value < low:
            raise ValueError(f'{name} must be an integer >= {low}, '
                             f'got {value!r}')
    params = dict(
        version=_VERSION,
        num_train=int(num_train),
        num_val=int(num_val),
        image_size=int(image_size),
        seed=int(seed))
    target = osp.abspath(out_dir)
    if _is_up_to_date(target, params, overwrite):
        _log(f'synthetic WSSS dataset {out_dir} is up to date; not rewriting')
        return out_dir
    parent = osp.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(
        prefix=f'.{osp.basename(target)}.tmp-', dir=parent)
    try:
        # mkdtemp creates a private (0o700) directory; give it the usual
        # permissions since it becomes ``out_dir``.
        os.chmod(tmp_dir, 0o777 & ~_umask())
        _generate_into(tmp_dir, params)
        _publish(tmp_dir, target, params, overwrite)
    finally:
        if osp.exists(tmp_dir):
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_dir
