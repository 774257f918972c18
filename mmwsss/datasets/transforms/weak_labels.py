# Copyright (c) OpenMMLab. All rights reserved.
"""Weak labels (tags, boxes, points, scribbles) as partial label maps.

SPML (`Ke et al., ICLR 2021 <https://arxiv.org/abs/2105.00957>`_) trains one
model from any of four kinds of weak label, each turned into a *partial*
label map before training (paper A.2; the reference code releases only the
resulting PNGs). The transforms of this module build that map in the
pipeline, as ``results[key]`` (default ``'gt_weak_seg'``), registered in
``results['seg_fields']`` so that mmseg's geometric transforms move it with
the image.

**Encoding** (SPML's, ``list_tag_dataset.py`` / ``segsort_softmax.py``):

* ``0 .. num_classes - 1``: a class (0 = background);
* :data:`WEAK_UNLABELLED` (254, configurable to any value in
  ``[num_classes, 254]``): unlabelled but part of the image (SPML keeps
  these pixels for k-means, co-occurrence and image similarity, and leaves
  them out of the semantic-annotation loss);
* :data:`WEAK_NOT_IN_IMAGE` (255): not part of the image. No transform here
  writes it; padding does: mmseg's ``RandomRotate``/``RandomMosaic``
  (``seg_pad_val=255``), the ``SegDataPreProcessor`` (``seg_pad_val=255``)
  for ``gt_sem_seg``, and the model for other packed fields.

**Which mmseg/mmcv transforms move the map** (checked in mmseg 1.2.2 and
mmcv 2.1.0): mmseg's ``Resize`` (also as the ``resize_type`` of mmcv's
``RandomResize`` / ``RandomChoiceResize`` when the default scope is
``'mmseg'``; nearest neighbour for every seg field), ``RandomFlip``,
``RandomCrop``, ``RandomRotate`` (pads with ``seg_pad_val``), ``SegRescale``
and ``ResizeToMultiple`` iterate ``seg_fields``. mmcv's own ``Resize``,
``RandomFlip`` and ``Pad`` (mmseg registers no ``Pad`` of its own) only
touch ``gt_seg_map``: an extra key is *not* padded by ``Pad``.
``RandomCrop`` never pads (a crop larger than the image keeps the image's
size); batches are padded by the data preprocessor, which pads ``gt_sem_seg``
only. So either

* keep the default ``key='gt_weak_seg'``, pack it with
  ``PackWSSSInputs(pixel_keys=('gt_weak_seg', ))`` and pad it with 255 in
  the model (bottom/right, to ``batch_input_shape``, as ``EPSHead`` pads
  ``gt_saliency``), or
* use ``key='gt_seg_map'`` (the weak label *replaces* the ground truth
  mask of the training pipeline), which mmcv's ``Pad``, ``PackSegInputs``
  and ``SegDataPreProcessor(seg_pad_val=255)`` all handle. ``RandomCrop``'s
  ``cat_max_ratio`` then reads the weak label: give it
  ``ignore_index=254`` (the unlabelled value) so that unlabelled pixels do
  not count as a category.
"""
import json
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmseg.registry import TRANSFORMS

__all__ = [
    'WEAK_NOT_IN_IMAGE', 'WEAK_UNLABELLED', 'TagsToWeakLabel',
    'LoadBoxWeakLabel', 'LoadPointWeakLabel', 'LoadScribbleWeakLabel',
    'parse_scribble_text', 'rasterize_strokes', 'dilate_labels'
]

#: Value of the pixels that are not part of the image (padding).
WEAK_NOT_IN_IMAGE = 255
#: Default value of the unlabelled pixels of the image.
WEAK_UNLABELLED = 254


def _check_encoding(owner: str, num_classes: int,
                    unlabelled_index: int) -> None:
    if not isinstance(num_classes, (int, np.integer)) or \
            isinstance(num_classes, bool) or not 1 <= num_classes <= 254:
        raise ValueError(f'{owner}: num_classes must be an integer in '
                         f'[1, 254], got {num_classes!r}')
    if not isinstance(unlabelled_index, (int, np.integer)) or \
            not num_classes <= unlabelled_index <= 254:
        raise ValueError(
            f'{owner}: unlabelled_index must lie in [num_classes, 254] = '
            f'[{num_classes}, 254] (255 means "not part of the image"), got '
            f'{unlabelled_index!r}')


def _store(results: dict, key: str, label: np.ndarray) -> None:
    """Put ``label`` into ``results[key]`` and ``seg_fields``."""
    results[key] = np.ascontiguousarray(label, dtype=np.uint8)
    results.setdefault('seg_fields', [])
    if key not in results['seg_fields']:
        results['seg_fields'].append(key)


def _image_size(results: dict, owner: str) -> Tuple[int, int]:
    """``(height, width)`` of ``results['img']`` (or ``ori_shape``)."""
    if results.get('img') is not None:
        return tuple(results['img'].shape[:2])
    if 'ori_shape' in results:
        return tuple(results['ori_shape'][:2])
    raise KeyError(f'{owner}: no "img" in the results of '
                   f"{results.get('img_path')}; load the image first")


def dilate_labels(label: np.ndarray, radius: float,
                  unlabelled_index: int) -> np.ndarray:
    """Grow the labelled pixels of ``label`` by ``radius``.

    An unlabelled pixel within Euclidean distance ``radius`` of a labelled
    one takes the label of the nearest labelled pixel (``scipy.ndimage.
    distance_transform_edt``; on equal distances the first such pixel in
    the transform's order). ``radius`` 1 is the 4-neighbourhood cross,
    ``radius`` 1.5 the 3x3 square. Labelled pixels keep their label, so
    the result does not depend on the order of strokes or points, and where
    two labels grow into each other each pixel goes to the nearer one.

    Args:
        label (np.ndarray): ``(H, W)`` label map.
        radius (float): Dilation radius in pixels; 0 returns a copy.
        unlabelled_index (int): Value of the unlabelled pixels.

    Returns:
        np.ndarray: The dilated map (same dtype).
    """
    from scipy import ndimage  # a dependency of scikit-image
    out = label.copy()
    free = label == unlabelled_index
    if radius <= 0 or free.all() or not free.any():
        return out
    dist, (iy, ix) = ndimage.distance_transform_edt(
        free, return_indices=True)
    grow = free & (dist <= radius)
    out[grow] = label[iy[grow], ix[grow]]
    return out


def parse_scribble_text(text: str,
                        path: str = '<text>') -> List[Tuple[int, np.ndarray]]:
    """Parse ScribbleSup strokes.

    The format of the ScribbleSup annotations (Lin et al., CVPR 2016) as
    distributed as text (e.g. ``<id>_scribble.txt``): one stroke per line,
    ``label,x1,y1,x2,y2,...`` with the class index (0 = background) and
    0-based pixel coordinates (x = column, y = row). Line ends may be
    ``\\r\\n``; blank lines and a trailing comma are allowed. A point is a
    stroke of one vertex.

    Args:
        text (str): The file's content.
        path (str): Named in errors. Defaults to '<text>'.

    Returns:
        list[tuple[int, np.ndarray]]: ``(label, xy)`` per stroke, ``xy`` an
        ``(N, 2)`` int64 array of ``(x, y)`` vertices.
    """
    strokes = []
    for lineno, line in enumerate(text.splitlines(), 1):
        tokens = [t.strip() for t in line.split(',')]
        if tokens and tokens[-1] == '':
            tokens = tokens[:-1]
        if not tokens:
            continue
        try:
            values = [int(t) for t in tokens]
        except ValueError as e:
            raise ValueError(f'scribble file {path}, line {lineno}: not a '
                             f'list of integers ({e})') from None
        if len(values) < 3 or len(values) % 2 == 0:
            raise ValueError(
                f'scribble file {path}, line {lineno}: expected '
                f'label,x1,y1[,x2,y2,...], got {len(values)} numbers')
        xy = np.asarray(values[1:], np.int64).reshape(-1, 2)
        strokes.append((values[0], xy))
    return strokes


def rasterize_strokes(strokes: Sequence[Tuple[int, np.ndarray]],
                      shape: Tuple[int, int],
                      unlabelled_index: int,
                      num_classes: Optional[int] = None,
                      path: str = '<strokes>') -> np.ndarray:
    """Draw strokes as 1-pixel polylines.

    Consecutive vertices are joined by Bresenham lines
    (``skimage.draw.line``); a stroke of one vertex is that pixel. Where
    strokes cross, the later one (in file order) wins.

    Args:
        strokes: ``(label, xy)`` pairs as :func:`parse_scribble_text`
            returns.
        shape (tuple[int, int]): ``(H, W)`` of the map.
        unlabelled_index (int): Value of the pixels no stroke touches.
        num_classes (int, optional): When given, a label outside
            ``[0, num_classes)`` is an error naming ``path``.
        path (str): Named in errors.

    Returns:
        np.ndarray: ``(H, W)`` uint8 map.
    """
    from skimage.draw import line
    height, width = shape
    out = np.full(shape, unlabelled_index, np.uint8)
    for k, (label, xy) in enumerate(strokes, 1):
        if num_classes is not None and not 0 <= label < num_classes:
            raise ValueError(
                f'scribble file {path}, stroke {k}: class {label} is not '
                f'one of the {num_classes} classes [0, {num_classes - 1}]')
        xs, ys = xy[:, 0], xy[:, 1]
        if xs.min() < 0 or ys.min() < 0 or xs.max() >= width or \
                ys.max() >= height:
            raise ValueError(
                f'scribble file {path}, stroke {k}: vertices span x '
                f'[{xs.min()}, {xs.max()}], y [{ys.min()}, {ys.max()}], '
                f'outside the {width}x{height} image (a file of another '
                'image?)')
        if len(xy) == 1:
            out[ys[0], xs[0]] = label
            continue
        for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:]):
            rr, cc = line(int(y0), int(x0), int(y1), int(x1))
            out[rr, cc] = label
    return out


@TRANSFORMS.register_module()
class TagsToWeakLabel(BaseTransform):
    """SPML's partial label from image tags: confident CAM pixels.

    Follows SPML (`Ke et al., ICLR 2021
    <https://arxiv.org/abs/2105.00957>`_, A.2, after PSA/AffinityNet): the
    CAMs of the image's classes, max-normalised to [0, 1] (as saved by any
    mmwsss CAM method and read by :class:`~mmwsss.datasets.LoadCAMs`), a
    background score from their maximum ``m``, then the most confident
    score::

        S = [(1 - m) ** alpha, A_1, ..., A_L]
        label = 0 (bg) or cam_labels[k - 1]   for k = argmax S
              = unlabelled_index              where max S < threshold

    The paper uses ``alpha`` 6 and a confidence threshold 0.2 (the folder
    ``cam/seam_a6_th0.2`` of the released labels); the exact rule is not
    released (method notes 3.8), this is the reading of the paper's text.
    Note what it implies: with ``alpha=6`` the winning score is at least
    ``m* = (1 - m*) ** 6``, about 0.222, so ``threshold=0.2`` leaves **no**
    pixel unlabelled; a threshold above that value (e.g. 0.3) does. An
    image without classes (``L = 0``) is all background.

    Required Keys:

    - cams (float32, L x H x W), cam_labels (int64, L) (from ``LoadCAMs``)

    Added Keys:

    - ``key`` (np.uint8, H x W), seg_fields

    Removed Keys:

    - cams, cam_labels (not moved by geometric transforms; put this
      transform right after ``LoadCAMs``)

    Args:
        num_classes (int): Number of classes, background included.
        alpha (float): Background exponent. Defaults to 6 (SPML).
        threshold (float): Confidence threshold. Defaults to 0.2 (SPML).
        unlabelled_index (int): Value of unlabelled pixels, in
            ``[num_classes, 254]``. Defaults to 254.
        key (str): Result key of the label map. Defaults to 'gt_weak_seg'.
    """

    def __init__(self,
                 num_classes: int,
                 alpha: float = 6.,
                 threshold: float = 0.2,
                 unlabelled_index: int = WEAK_UNLABELLED,
                 key: str = 'gt_weak_seg') -> None:
        _check_encoding(type(self).__name__, num_classes, unlabelled_index)
        if not alpha > 0:
            raise ValueError(f'TagsToWeakLabel: alpha must be > 0, got '
                             f'{alpha}')
        if not 0 <= threshold <= 1:
            raise ValueError('TagsToWeakLabel: threshold must lie in [0, 1],'
                             f' got {threshold}')
        self.num_classes = int(num_classes)
        self.alpha = float(alpha)
        self.threshold = float(threshold)
        self.unlabelled_index = int(unlabelled_index)
        self.key = key

    def transform(self, results: dict) -> dict:
        """Replace ``cams``/``cam_labels`` by ``results[key]``."""
        if 'cams' not in results or 'cam_labels' not in results:
            raise KeyError(
                'TagsToWeakLabel: no "cams"/"cam_labels" in the results of '
                f"{results.get('img_path')}; put LoadCAMs before it")
        cams = np.asarray(results.pop('cams'), np.float32)
        labels = np.asarray(results.pop('cam_labels'), np.int64)
        path = results.get('cam_path', results.get('img_path'))
        bad = labels[(labels < 1) | (labels >= self.num_classes)]
        if bad.size:
            raise ValueError(
                f'CAMs {path}: labels {bad.tolist()} are not foreground '
                f'classes [1, {self.num_classes - 1}]')
        img = results.get('img')
        if img is not None and cams.shape[1:] != img.shape[:2]:
            raise ValueError(
                f'CAMs {path} are {cams.shape[2]}x{cams.shape[1]} but the '
                f"image {results.get('img_path')} is {img.shape[1]}x"
                f'{img.shape[0]}; put TagsToWeakLabel right after LoadCAMs')
        if cams.shape[0] == 0:
            _store(results, self.key, np.zeros(cams.shape[1:], np.uint8))
            return results
        peak = cams.max(axis=0)
        bg = np.power(np.clip(1 - peak, 0, 1), self.alpha)[None]
        scores = np.concatenate([bg, cams])
        keys = np.concatenate([[0], labels]).astype(np.uint8)
        label = keys[scores.argmax(axis=0)]
        label[scores.max(axis=0) < self.threshold] = self.unlabelled_index
        _store(results, self.key, label)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_classes={self.num_classes}, '
                f'alpha={self.alpha}, threshold={self.threshold}, '
                f'unlabelled_index={self.unlabelled_index}, '
                f'key={self.key!r})')


class _Box:
    """One box: class index and 0-based inclusive pixel bounds."""
    __slots__ = ('label', 'x0', 'y0', 'x1', 'y1')

    def __init__(self, label: int, x0: int, y0: int, x1: int,
                 y1: int) -> None:
        self.label, self.x0, self.y0, self.x1, self.y1 = (label, x0, y0, x1,
                                                          y1)

    @property
    def area(self) -> int:
        return (self.x1 - self.x0 + 1) * (self.y1 - self.y0 + 1)


@TRANSFORMS.register_module()
class LoadBoxWeakLabel(BaseTransform):
    """SPML's partial label from bounding boxes (box-wise CAMs).

    Follows SPML (`Ke et al., ICLR 2021
    <https://arxiv.org/abs/2105.00957>`_, A.2; method notes 3.8): "we
    normalize the CAM logits within each bounding box to the range between
    0 and 1 ... set confidence threshold to 0.5 for selecting foreground
    pixels and unlabeled regions ... restrict all the regions outside
    bounding boxes as background". As implemented here::

        label = 0 (background)            outside every box
              = unlabelled_index          inside a box, unless
              = c                         s_b >= threshold for a box b of
                                          class c covering the pixel

    ``s_b`` is the CAM of the box's class min-max normalised inside the box,
    ``(A_c - min_b A_c) / (max_b A_c - min_b A_c)`` (0 where the CAM is flat
    in the box). The saved CAMs are max-normalised, usually after a ReLU,
    so this equals the paper's min-max of the logits wherever those are
    not negative. Where several boxes qualify, the highest ``s_b`` wins and
    ties go to the smaller box (boxes are painted by decreasing area, as in
    BoxSup/SDI). A box whose class has no CAM (or all boxes, when the
    pipeline has no ``LoadCAMs``) is handled by ``box_without_cams``:
    ``'unlabelled'`` (the paper's "the rest unlabeled"; default) or
    ``'box'`` (``s_b = 1`` on the whole box: the box-as-mask baseline).

    Box files: ``results['box_path']`` (a dataset's ``data_prefix.
    box_path`` folder with ``file_suffixes=dict(box_path='.xml')``), or
    one COCO JSON for all images (``ann_file``):

    - VOC XML: every ``<object>`` (difficult ones included: they are
      objects, not background) with ``<name>`` in ``classes`` and a
      ``<bndbox>`` of 1-based inclusive pixel coordinates; ``<size>`` must
      equal the image's size.
    - COCO JSON (``.json``): the ``images`` entry whose ``file_name`` has
      the image's base name (or the only one), its ``annotations``
      (``bbox`` ``[x, y, w, h]`` in continuous 0-based coordinates, the
      pixels ``floor(x) .. ceil(x + w) - 1``; crowd boxes included), and
      ``categories`` names in ``classes``; ``width``/``height`` must equal
      the image's.

    Boxes reaching outside the image are clipped; a box with no pixel in
    the image, a size mismatch or an unknown class name is an error naming
    the file.

    Required Keys:

    - img (its size), box_path (unless ``ann_file``)
    - cams, cam_labels (optional, from ``LoadCAMs``; at the image's size)

    Added Keys:

    - ``key`` (np.uint8, H x W), seg_fields

    Removed Keys:

    - cams, cam_labels

    Args:
        classes (Sequence[str]): Class names, background first (the
            dataset's ``metainfo['classes']``); box names are looked up in
            it.
        threshold (float): Foreground threshold on ``s_b``. Defaults to
            0.5 (SPML).
        box_without_cams (str): ``'unlabelled'`` or ``'box'``. Defaults to
            'unlabelled'.
        ann_file (str, optional): A COCO JSON of all images, used instead
            of ``box_path``; parsed once per process. Defaults to None.
        unlabelled_index (int): Defaults to 254.
        key (str): Defaults to 'gt_weak_seg'.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
    """

    MODES = ('unlabelled', 'box')

    def __init__(self,
                 classes: Sequence[str],
                 threshold: float = 0.5,
                 box_without_cams: str = 'unlabelled',
                 ann_file: Optional[str] = None,
                 unlabelled_index: int = WEAK_UNLABELLED,
                 key: str = 'gt_weak_seg',
                 backend_args: Optional[dict] = None) -> None:
        classes = tuple(classes)
        _check_encoding(type(self).__name__, len(classes), unlabelled_index)
        if box_without_cams not in self.MODES:
            raise ValueError(f'LoadBoxWeakLabel: box_without_cams must be '
                             f'one of {self.MODES}, got {box_without_cams!r}')
        if not 0 < threshold <= 1:
            raise ValueError('LoadBoxWeakLabel: threshold must lie in '
                             f'(0, 1], got {threshold}')
        self.classes = classes
        self.class_index = {name: i for i, name in enumerate(classes)}
        self.threshold = float(threshold)
        self.box_without_cams = box_without_cams
        self.ann_file = ann_file
        self.unlabelled_index = int(unlabelled_index)
        self.key = key
        self.backend_args = backend_args
        self._coco: Optional[Tuple[str, dict]] = None

    # -- parsing -----------------------------------------------------------
    def _class_of(self, name: str, path: str) -> int:
        index = self.class_index.get(name)
        if index is None or index == 0:
            raise ValueError(
                f'box file {path}: class {name!r} is not one of the '
                f'foreground classes {list(self.classes[1:])}')
        return index

    @staticmethod
    def _clip(path: str, label: int, x0: float, y0: float, x1: float,
              y1: float, width: int, height: int) -> _Box:
        if x1 < x0 or y1 < y0:
            raise ValueError(f'box file {path}: box ({x0}, {y0}, {x1}, '
                             f'{y1}) has xmax < xmin or ymax < ymin')
        cx0, cy0 = max(int(x0), 0), max(int(y0), 0)
        cx1, cy1 = min(int(x1), width - 1), min(int(y1), height - 1)
        if cx1 < cx0 or cy1 < cy0:
            raise ValueError(f'box file {path}: box ({x0}, {y0}, {x1}, '
                             f'{y1}) (0-based pixels) lies outside the '
                             f'{width}x{height} image')
        return _Box(label, cx0, cy0, cx1, cy1)

    def _voc_boxes(self, path: str, data: bytes, img_path: str, width: int,
                   height: int) -> List[_Box]:
        try:
            root = ET.fromstring(data)
        except ET.ParseError as e:
            raise ValueError(f'box file {path} is not valid XML: {e}') \
                from None
        size = root.find('size')
        if size is not None and size.findtext('width') is not None:
            try:
                w, h = (int(float(size.findtext(k)))
                        for k in ('width', 'height'))
            except (TypeError, ValueError):
                raise ValueError(f'box file {path}: unreadable <size>') \
                    from None
            if (w, h) != (width, height):
                raise ValueError(
                    f'box file {path} is for a {w}x{h} image, but the image '
                    f'{img_path} is {width}x{height}')
        boxes = []
        for obj in root.findall('object'):
            name = (obj.findtext('name') or '').strip()
            bnd = obj.find('bndbox')
            if bnd is None:
                raise ValueError(f'box file {path}: object {name!r} has no '
                                 '<bndbox>')
            try:
                x0, y0, x1, y1 = (
                    int(round(float(bnd.findtext(k)))) - 1
                    for k in ('xmin', 'ymin', 'xmax', 'ymax'))
            except (TypeError, ValueError):
                raise ValueError(f'box file {path}: object {name!r} has an '
                                 'unreadable <bndbox>') from None
            boxes.append(
                self._clip(path, self._class_of(name, path), x0, y0, x1, y1,
                           width, height))
        return boxes

    @staticmethod
    def _coco_index(path: str, data: bytes) -> dict:
        try:
            coco = json.loads(data)
            images = {img['id']: dict(img, anns=[]) for img in coco['images']}
            for ann in coco.get('annotations', []):
                images[ann['image_id']]['anns'].append(ann)
            cats = {c['id']: c['name'] for c in coco.get('categories', [])}
            by_name = {
                osp.basename(img['file_name']): img
                for img in images.values()
            }
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f'box file {path} is not a COCO JSON '
                             f'(images, annotations, categories): '
                             f'{type(e).__name__}: {e}') from None
        return dict(images=list(images.values()), by_name=by_name, cats=cats)

    def _coco_boxes(self, path: str, index: dict, img_path: str, width: int,
                    height: int) -> List[_Box]:
        name = osp.basename(img_path or '')
        img = index['by_name'].get(name)
        if img is None and len(index['images']) == 1:
            img = index['images'][0]
        if img is None:
            raise KeyError(f'box file {path} has no image named {name!r}')
        w, h = img.get('width'), img.get('height')
        if w is not None and (int(w), int(h)) != (width, height):
            raise ValueError(
                f'box file {path}: image {name!r} is {w}x{h} there, but '
                f'{img_path} is {width}x{height}')
        boxes = []
        for ann in img['anns']:
            cat = index['cats'].get(ann.get('category_id'))
            if cat is None:
                raise ValueError(f'box file {path}: annotation of {name!r} '
                                 'has unknown category_id '
                                 f"{ann.get('category_id')!r}")
            x, y, bw, bh = (float(v) for v in ann['bbox'])
            boxes.append(
                self._clip(path, self._class_of(cat, path), np.floor(x),
                           np.floor(y),
                           np.ceil(x + bw) - 1,
                           np.ceil(y + bh) - 1, width, height))
        return boxes

    def _read(self, path: str, img_path: str) -> bytes:
        if not fileio.exists(path, backend_args=self.backend_args):
            raise FileNotFoundError(
                f'box file {path} (of {img_path}) does not exist')
        return fileio.get(path, backend_args=self.backend_args)

    def _load_boxes(self, results: dict, width: int,
                    height: int) -> List[_Box]:
        img_path = results.get('img_path', '<unknown image>')
        if self.ann_file is not None:
            if self._coco is None:
                data = self._read(self.ann_file, img_path)
                self._coco = (self.ann_file,
                              self._coco_index(self.ann_file, data))
            return self._coco_boxes(self.ann_file, self._coco[1], img_path,
                                    width, height)
        path = results.get('box_path')
        if path is None:
            raise KeyError(
                f'LoadBoxWeakLabel: no "box_path" for {img_path}; set the '
                "dataset's data_prefix.box_path (with file_suffixes=dict("
                "box_path='.xml')) or ann_file")
        data = self._read(path, img_path)
        if path.endswith('.json'):
            return self._coco_boxes(path, self._coco_index(path, data),
                                    img_path, width, height)
        return self._voc_boxes(path, data, img_path, width, height)

    # -- the rule ----------------------------------------------------------
    def transform(self, results: dict) -> dict:
        """Build ``results[key]`` from the boxes and optional CAMs."""
        height, width = _image_size(results, type(self).__name__)
        boxes = self._load_boxes(results, width, height)
        cams = results.pop('cams', None)
        cam_labels = results.pop('cam_labels', None)
        cam_of: Dict[int, np.ndarray] = {}
        if cams is not None:
            cams = np.asarray(cams, np.float32)
            if cams.shape[1:] != (height, width):
                raise ValueError(
                    f"CAMs {results.get('cam_path')} are "
                    f'{cams.shape[2]}x{cams.shape[1]} but the image '
                    f"{results.get('img_path')} is {width}x{height}; put "
                    'LoadBoxWeakLabel before any geometric transform')
            for cam, c in zip(cams, np.asarray(cam_labels).tolist()):
                cam_of.setdefault(int(c), cam)
        label = np.zeros((height, width), np.uint8)  # outside: background
        inside = np.zeros((height, width), bool)
        best = np.full((height, width), -1, np.float32)  # winning s_b
        for box in sorted(boxes, key=lambda b: -b.area):  # stable sort
            ys, xs = slice(box.y0, box.y1 + 1), slice(box.x0, box.x1 + 1)
            inside[ys, xs] = True
            cam = cam_of.get(box.label)
            if cam is not None:
                part = cam[ys, xs]
                lo, hi = part.min(), part.max()
                score = (part - lo) / (hi - lo) if hi > lo else \
                    np.zeros_like(part)
            else:
                fill = 1 if self.box_without_cams == 'box' else 0
                score = np.full((box.y1 - box.y0 + 1, box.x1 - box.x0 + 1),
                                fill, np.float32)
            win = (score >= self.threshold) & (score >= best[ys, xs])
            best[ys, xs][win] = score[win]
            label[ys, xs][win] = box.label
        label[inside & (best < 0)] = self.unlabelled_index
        _store(results, self.key, label)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_classes={len(self.classes)}, '
                f'threshold={self.threshold}, '
                f'box_without_cams={self.box_without_cams!r}, '
                f'ann_file={self.ann_file!r}, '
                f'unlabelled_index={self.unlabelled_index}, '
                f'key={self.key!r})')


class _SparseWeakLabel(BaseTransform):
    """Points and scribbles: labelled pixels, dilated (shared code)."""

    #: ``results`` key of the file path.
    PATH_KEY = ''
    #: What the file is called in messages.
    WHAT = ''
    #: SPML's dilation radius.
    DEFAULT_RADIUS = 0.

    def __init__(self,
                 num_classes: int,
                 radius: Optional[float] = None,
                 file_unlabelled_value: int = 255,
                 unlabelled_index: int = WEAK_UNLABELLED,
                 key: str = 'gt_weak_seg',
                 imdecode_backend: str = 'pillow',
                 backend_args: Optional[dict] = None) -> None:
        _check_encoding(type(self).__name__, num_classes, unlabelled_index)
        radius = self.DEFAULT_RADIUS if radius is None else radius
        if not radius >= 0:
            raise ValueError(f'{type(self).__name__}: radius must be >= 0, '
                             f'got {radius}')
        self.num_classes = int(num_classes)
        self.radius = float(radius)
        self.file_unlabelled_value = int(file_unlabelled_value)
        self.unlabelled_index = int(unlabelled_index)
        self.key = key
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args

    def _read_png(self, path: str, data: bytes) -> np.ndarray:
        try:
            label = mmcv.imfrombytes(
                data, flag='unchanged', backend=self.imdecode_backend)
            if label is None:
                raise ValueError('not an image')
        except Exception as e:  # decoders raise many exception types
            raise OSError(f'cannot read {self.WHAT} file {path}: '
                          f'{type(e).__name__}: {e}') from e
        label = np.asarray(label).squeeze()
        if label.ndim != 2:
            raise ValueError(f'{self.WHAT} file {path} must be a single-'
                             f'channel label map, got shape {label.shape}')
        free = label == self.file_unlabelled_value
        bad = np.unique(label[~free & ((label < 0) |
                                       (label >= self.num_classes))])
        if bad.size:
            raise ValueError(
                f'{self.WHAT} file {path}: values {bad.tolist()} are not '
                f'one of the {self.num_classes} classes (and not the '
                f'unlabelled value {self.file_unlabelled_value})')
        out = label.astype(np.uint8)
        out[free] = self.unlabelled_index
        return out

    def transform(self, results: dict) -> dict:
        """Read ``results[PATH_KEY]`` into ``results[key]``."""
        path = results.get(self.PATH_KEY)
        if path is None:
            raise KeyError(
                f'{type(self).__name__}: no {self.PATH_KEY!r} for '
                f"{results.get('img_path')}; set the dataset's data_prefix."
                f'{self.PATH_KEY} (and file_suffixes)')
        height, width = _image_size(results, type(self).__name__)
        if not fileio.exists(path, backend_args=self.backend_args):
            raise FileNotFoundError(
                f"{self.WHAT} file {path} (of {results.get('img_path')}) "
                'does not exist')
        data = fileio.get(path, backend_args=self.backend_args)
        if path.endswith('.txt'):
            try:
                text = data.decode('utf-8')
            except UnicodeDecodeError as e:
                raise ValueError(f'{self.WHAT} file {path} is not text: '
                                 f'{e}') from None
            label = rasterize_strokes(
                parse_scribble_text(text, path), (height, width),
                self.unlabelled_index, self.num_classes, path)
        else:
            label = self._read_png(path, data)
            if label.shape != (height, width):
                raise ValueError(
                    f'{self.WHAT} file {path} is '
                    f'{label.shape[1]}x{label.shape[0]} but its image '
                    f"{results.get('img_path')} is {width}x{height}")
        label = dilate_labels(label, self.radius, self.unlabelled_index)
        _store(results, self.key, label)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_classes={self.num_classes}, '
                f'radius={self.radius}, '
                f'unlabelled_index={self.unlabelled_index}, '
                f'key={self.key!r})')


@TRANSFORMS.register_module()
class LoadPointWeakLabel(_SparseWeakLabel):
    """SPML's partial label from labelled points, dilated.

    SPML (`Ke et al., ICLR 2021 <https://arxiv.org/abs/2105.00957>`_)
    trains its VOC point setting on points dilated by 6 (the released
    folder ``dilate_6_0.0``; method notes 3.8; the exact structuring
    element is not released). Here every pixel within Euclidean distance
    ``radius`` of a point takes the label of the nearest point
    (:func:`dilate_labels`); everything else is unlabelled.

    File (``results['point_path']``, a dataset's ``data_prefix.
    point_path``):

    - a label map PNG (e.g. ``Points/<id>.png`` of the synthetic set and of
      ``tools/dataset_converters/masks_to_points_boxes.py``): class indices
      at the points, ``file_unlabelled_value`` (255) elsewhere; or
    - a ``.txt`` in the ScribbleSup format, one point per line as
      ``label,x,y`` (0-based pixel coordinates).

    A value that is not a class, a point outside the image or a map of
    another size is an error naming the file.

    Required Keys:

    - img (its size), point_path

    Added Keys:

    - ``key`` (np.uint8, H x W), seg_fields

    Args:
        num_classes (int): Number of classes, background included.
        radius (float, optional): Dilation radius in pixels. Defaults to
            None (6, SPML's VOC points).
        file_unlabelled_value (int): Value of unlabelled pixels in a PNG.
            Defaults to 255.
        unlabelled_index (int): Defaults to 254.
        key (str): Defaults to 'gt_weak_seg'.
        imdecode_backend (str): Defaults to 'pillow'.
        backend_args (dict, optional): Defaults to None.
    """
    PATH_KEY = 'point_path'
    WHAT = 'point'
    DEFAULT_RADIUS = 6.


@TRANSFORMS.register_module()
class LoadScribbleWeakLabel(_SparseWeakLabel):
    """SPML's partial label from scribbles, rasterised and dilated.

    SPML (`Ke et al., ICLR 2021 <https://arxiv.org/abs/2105.00957>`_)
    trains on the ScribbleSup scribbles (Lin et al., CVPR 2016) converted
    with rloss's ``convertscribbles.m`` and dilated by 3 (folder
    ``scribble/dilate_3``; method notes 3.8). Here strokes are drawn as
    1-pixel polylines between consecutive vertices
    (:func:`rasterize_strokes`; later strokes win where they cross), then
    every pixel within Euclidean distance ``radius`` takes the label of the
    nearest stroke pixel (:func:`dilate_labels`); everything else is
    unlabelled.

    File (``results['scribble_path']``):

    - a ``.txt`` in the ScribbleSup format (:func:`parse_scribble_text`):
      one stroke per line, ``label,x1,y1,x2,y2,...``, 0 = background,
      0-based pixel coordinates, ``\\r\\n`` line ends accepted (the
      dataset's ``file_suffixes=dict(scribble_path='_scribble.txt')``
      reads ``<id>_scribble.txt``); or
    - an already rasterised label map PNG (e.g. ``Scribbles/<id>.png`` of
      the synthetic set), ``file_unlabelled_value`` (255) off the strokes.

    A stroke of an unknown class (index outside ``[0, num_classes)``), a
    vertex outside the image or a map of another size is an error naming
    the file (and the stroke).

    Required Keys:

    - img (its size), scribble_path

    Added Keys:

    - ``key`` (np.uint8, H x W), seg_fields

    Args:
        num_classes (int): Number of classes, background included.
        radius (float, optional): Dilation radius in pixels. Defaults to
            None (3, SPML).
        file_unlabelled_value (int): Value of unlabelled pixels in a PNG.
            Defaults to 255.
        unlabelled_index (int): Defaults to 254.
        key (str): Defaults to 'gt_weak_seg'.
        imdecode_backend (str): Defaults to 'pillow'.
        backend_args (dict, optional): Defaults to None.
    """
    PATH_KEY = 'scribble_path'
    WHAT = 'scribble'
    DEFAULT_RADIUS = 3.
