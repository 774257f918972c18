# Copyright (c) OpenMMLab. All rights reserved.
"""The base class of all mmwsss datasets: segmentation data with image labels.

Weakly supervised semantic segmentation trains from image-level labels (the
set of classes present in an image) and evaluates pseudo masks and final
masks against pixel labels. :class:`BaseWSSSDataset` extends mmseg's
:class:`~mmseg.datasets.BaseSegDataset` (which already reads split files,
image and mask folders and the ``classes``/``palette`` meta) with exactly
that: every ``data_info`` carries

- ``img_labels``: ``np.ndarray`` of the segmentation class indices present
  in the image (background 0 and the ignore index excluded), and
- ``gt_score``: ``np.float32`` multi-hot vector over the foreground classes
  (length ``num_classes - 1``; entry ``k`` is class ``k + 1``), the field
  name mmpretrain's multi-label metrics read.

Image labels come from a ``cls_labels.npy`` file (the de-facto format of
PSA, IRN, SEAM, EPS and RPNet: a pickled dict from image id to a float32
vector over the foreground classes; ids are strings such as
``'2007_000032'`` or IRN-style integers such as ``2007000032``), or are
derived from the pixel masks. The dataset can also be reduced to a seeded,
class-balanced fraction of its images (the "reduced training set"
experiments of RPNet).

What a method reads besides images, masks and image labels comes through
generic means, never through a keyword of its own: per-image files from
``data_prefix`` folders (saliency maps, saved CAMs; pseudo masks are simply
the ``seg_map_path`` folder), selections of images from dataset wrappers
(:mod:`mmwsss.datasets.wrappers`), and the keys
:class:`~mmwsss.datasets.PackWSSSInputs` is told to pack.
"""
import math
import pickle
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import print_log
from mmengine.utils import track_iter_progress
from mmseg.datasets import BaseSegDataset
from PIL import Image

__all__ = [
    'BaseWSSSDataset', 'load_cls_label_file', 'class_balanced_subset'
]


def _id_variants(name: str) -> List[Union[str, int]]:
    """Keys under which ``name`` may appear in a ``cls_labels.npy`` file."""
    keys: List[Union[str, int]] = [name]
    digits = name.replace('_', '')
    if digits.isdigit():
        keys.append(int(digits))
    return keys


def load_cls_label_file(path: str) -> Dict[Union[str, int], np.ndarray]:
    """Load an image-label file.

    Supported formats:

    - ``.npy``: a pickled dict ``{image_id: float vector}`` (PSA/IRN/EPS).
    - ``.txt``/``.csv``: one image per line, ``<image_id> <label> ...`` where
      each label is a foreground class index (1-based, as in the masks) or
      a class name; resolved later against the dataset's classes.
    - ``.json``: ``{image_id: [label, ...]}`` with the same label rules.

    Args:
        path (str): The file.

    Returns:
        dict: Image id to either a float vector (``.npy``) or a list of
        labels (text/JSON).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'image-label file not found: {path}')
    ext = osp.splitext(path)[1].lower()
    try:
        if ext == '.npy':
            obj = np.load(path, allow_pickle=True)
            obj = obj.item() if obj.dtype == object and obj.ndim == 0 else obj
            if not isinstance(obj, dict):
                raise ValueError('expected a pickled dict {image_id: vector}, '
                                 f'got {type(obj).__name__}')
            return {
                (k.item() if isinstance(k, np.generic) else k):
                np.asarray(v, dtype=np.float32)
                for k, v in obj.items()
            }
        if ext == '.json':
            import json
            with open(path) as f:
                obj = json.load(f)
            if not isinstance(obj, dict):
                raise ValueError('expected a JSON object {image_id: [labels]}')
            return {str(k): list(v) for k, v in obj.items()}
        labels = {}
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                parts = line.replace(',', ' ').split()
                if not parts:
                    continue
                labels[parts[0]] = parts[1:]
        return labels
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(f'cannot read image-label file {path}: {e}') from e


def class_balanced_subset(labels: Sequence[np.ndarray], fraction: float,
                          seed: int) -> List[int]:
    """Pick a seeded subset that keeps ``fraction`` of every class's images.

    For each class (and for the group of background-only images) the quota
    is ``ceil(fraction * n_c)``. Classes are visited from rarest to most
    frequent; images are drawn in a seeded random order, and an image
    already picked for an earlier class counts toward every class it
    contains. Every class present in the full set is therefore present in
    the subset, and the subset has about ``fraction`` of the images.

    Args:
        labels (Sequence[np.ndarray]): Per image, its class indices.
        fraction (float): In ``(0, 1]``.
        seed (int): Seed of the random order.

    Returns:
        list[int]: Sorted indices of the chosen images.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f'subset fraction must be in (0, 1], got {fraction}')
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    groups: Dict[int, List[int]] = {}
    for idx in order:
        keys = [int(c) for c in labels[idx]] or [-1]  # -1: background only
        for c in keys:
            groups.setdefault(c, []).append(int(idx))
    chosen = set()
    count = {c: 0 for c in groups}
    for c in sorted(groups, key=lambda k: (len(groups[k]), k)):
        quota = math.ceil(fraction * len(groups[c]))
        for idx in groups[c]:
            if count[c] >= quota:
                break
            if idx in chosen:
                continue
            chosen.add(idx)
            for k in ([int(x) for x in labels[idx]] or [-1]):
                count[k] += 1
    return sorted(chosen)


class BaseWSSSDataset(BaseSegDataset):
    """Segmentation dataset with image-level labels.

    Per-image files besides the image and its mask come from ``data_prefix``:
    every key ``<name>_path`` other than ``img_path`` and ``seg_map_path``
    names a folder, and each data info gets
    ``<name>_path = <folder>/<image id><suffix>`` (image id: the image's
    file name without extension) for a transform to read, e.g.
    ``saliency_path`` (:class:`~mmwsss.datasets.LoadSaliencyMap`) or
    ``cam_path`` (saved CAMs, ``.npz``, :class:`~mmwsss.datasets.LoadCAMs`).
    As for every ``data_prefix`` entry, an absolute folder is used as is and
    a relative one is joined with ``data_root``. Training on pseudo masks
    (stage 3 of WSSS) needs no option of its own: set
    ``data_prefix.seg_map_path`` to the folder of pseudo masks.

    Args:
        cls_label_file (str, optional): Image-label file (see
            :func:`load_cls_label_file`), relative to ``data_root`` unless
            absolute. Defaults to None.
        label_source (str): Where image labels come from: ``'file'``
            (``cls_label_file``, required), ``'mask'`` (classes present in
            the pixel masks), ``'auto'`` (the file when it exists, else
            the masks) or ``'none'`` (no image labels; for segmentation
            training on pseudo masks, which needs none). Defaults to
            'auto'.
        subset_fraction (float, optional): Keep this class-balanced fraction
            of the images (e.g. ``1 / 8``, the reduced training sets of
            RPNet), see :func:`class_balanced_subset`; the wrapper
            :class:`~mmwsss.datasets.ClassBalancedSubsetDataset` does the
            same. Defaults to None (all images).
        subset_seed (int): Seed of the subset. Defaults to 0.
        file_suffixes (dict, optional): Suffix of the per-image files of
            each extra ``data_prefix`` key, e.g.
            ``dict(cam_path='.npz')``; keys not given use ``'.png'``.
            Defaults to None.
        optional_files (Sequence[str]): ``data_prefix`` keys whose files may
            be missing because a transform decides what a missing file
            means (e.g. ``('saliency_path', )`` with
            ``LoadSaliencyMap(fallback=...)``). Defaults to ().
        check_files (bool): Check at construction that the file of every
            image exists for every ``data_prefix`` key not in
            ``optional_files`` (images, masks or pseudo masks, saved CAMs
            ...), and fail with the folder and the missing files instead of
            failing later in a worker. Defaults to True.
        **kwargs: Arguments of :class:`~mmseg.datasets.BaseSegDataset`
            (``ann_file``, ``data_root``, ``data_prefix``, ``pipeline``,
            ``img_suffix``, ``seg_map_suffix``, ``metainfo`` ...).
    """
    #: ``data_prefix`` keys that mmseg itself resolves (with ``img_suffix``
    #: and ``seg_map_suffix``); every other ``<name>_path`` key is an extra
    #: per-image file.
    BASE_PREFIX_KEYS = ('img_path', 'seg_map_path')
    #: Suffix of an extra per-image file not named in ``file_suffixes``.
    DEFAULT_FILE_SUFFIX = '.png'

    def __init__(self,
                 cls_label_file: Optional[str] = None,
                 label_source: str = 'auto',
                 subset_fraction: Optional[float] = None,
                 subset_seed: int = 0,
                 file_suffixes: Optional[Dict[str, str]] = None,
                 optional_files: Sequence[str] = (),
                 check_files: bool = True,
                 **kwargs) -> None:
        if label_source not in ('auto', 'file', 'mask', 'none'):
            raise ValueError("label_source must be 'auto', 'file', 'mask' or "
                             f"'none', got {label_source!r}")
        if label_source == 'none' and subset_fraction is not None:
            raise ValueError('subset_fraction needs image labels; it cannot '
                             "be combined with label_source='none'")
        file_suffixes = dict(file_suffixes or {})
        for key, suffix in file_suffixes.items():
            if not key.endswith('_path') or key in self.BASE_PREFIX_KEYS:
                raise ValueError(
                    f'{type(self).__name__}: file_suffixes key {key!r} must '
                    'be a data_prefix key <name>_path other than '
                    f'{self.BASE_PREFIX_KEYS} (those use img_suffix and '
                    'seg_map_suffix)')
            if not isinstance(suffix, str):
                raise TypeError(
                    f'{type(self).__name__}: file_suffixes[{key!r}] must be '
                    f'a str, got {suffix!r}')
        if isinstance(optional_files, str):
            optional_files = (optional_files, )
        for key in optional_files:
            if not isinstance(key, str) or not key.endswith('_path'):
                raise ValueError(
                    f'{type(self).__name__}: optional_files entry {key!r} '
                    'must be a data_prefix key <name>_path')
        self.cls_label_file = cls_label_file
        self.label_source = label_source
        self.subset_fraction = subset_fraction
        self.subset_seed = subset_seed
        self.file_suffixes = file_suffixes
        self.optional_files = tuple(optional_files)
        self.check_files = check_files
        super().__init__(**kwargs)

    # ------------------------------------------------------------------
    @property
    def num_fg_classes(self) -> int:
        """int: Number of foreground classes (classes minus background)."""
        return len(self.metainfo['classes']) - 1

    @property
    def extra_file_keys(self) -> List[str]:
        """list[str]: The ``data_prefix`` keys of extra per-image files."""
        return [
            key for key in self.data_prefix
            if key.endswith('_path') and key not in self.BASE_PREFIX_KEYS
        ]

    def _resolve(self, path: Optional[str]) -> Optional[str]:
        if path is None or osp.isabs(path) or not self.data_root:
            return path
        return osp.join(self.data_root, path)

    def load_data_list(self) -> List[dict]:
        """Load image/mask paths and the extra per-image file paths, check
        that the files exist, attach image labels, apply the subset."""
        data_list = super().load_data_list()
        if not data_list:
            raise ValueError(
                f'{type(self).__name__} found no images (ann_file='
                f'{self.ann_file!r}, img_path='
                f'{self.data_prefix.get("img_path")!r})')
        for key in self.extra_file_keys:
            folder = self.data_prefix[key]
            suffix = self.file_suffixes.get(key, self.DEFAULT_FILE_SUFFIX)
            for info in data_list:
                info[key] = osp.join(folder, self._image_id(info) + suffix)
        if self.check_files:
            self._check_files(data_list)
        label_file = self._resolve(self.cls_label_file)
        source = self.label_source
        if source == 'auto':
            source = 'file' if label_file and osp.isfile(label_file) \
                else 'mask'
        if source == 'none':
            pass
        elif source == 'file':
            if not label_file:
                raise ValueError("label_source='file' needs cls_label_file")
            self._labels_from_file(data_list, label_file)
        else:
            self._labels_from_masks(data_list)
        self.label_source_used = source
        if self.subset_fraction is not None:
            keep = class_balanced_subset([d['img_labels'] for d in data_list],
                                         self.subset_fraction,
                                         self.subset_seed)
            print_log(
                f'{type(self).__name__}: subset {self.subset_fraction:.4g} '
                f'(seed {self.subset_seed}) keeps {len(keep)} of '
                f'{len(data_list)} images', logger='current')
            data_list = [data_list[i] for i in keep]
        return data_list

    # ------------------------------------------------------------------
    @staticmethod
    def _image_id(info: dict) -> str:
        return osp.splitext(osp.basename(info['img_path']))[0]

    def _check_files(self, data_list: List[dict]) -> None:
        """Every path key not in ``optional_files``: all files must exist.

        The error names the ``data_prefix`` key, its folder, how many images
        lack their file and the first missing files.
        """
        keys = [k for k in (*self.BASE_PREFIX_KEYS, *self.extra_file_keys)
                if k not in self.optional_files]
        source = self.ann_file or 'the image folder'
        for key in keys:
            missing = [
                d[key] for d in data_list
                if key in d and not osp.isfile(d[key])
            ]
            if not missing:
                continue
            folder = self.data_prefix.get(key) or ''
            names = [
                osp.relpath(p, folder) if folder else p for p in missing[:5]
            ]
            what = {'img_path': 'images', 'seg_map_path': 'masks'}.get(
                key, f'{key[:-len("_path")]} files')
            hint = '' if key == 'img_path' else (
                ' (an unfinished run of the stage that writes them? rerun '
                'it, finished images are skipped; files a transform may do '
                'without go in optional_files)')
            if folder and not osp.isdir(folder):
                raise FileNotFoundError(
                    f'{type(self).__name__}: data_prefix.{key} {folder} is '
                    f'not a directory, but {len(missing)} of '
                    f'{len(data_list)} images listed in {source} need their '
                    f'{what} there, e.g. {names}{hint}')
            raise FileNotFoundError(
                f'{type(self).__name__}: data_prefix.{key} {folder} lacks '
                f'the {what} of {len(missing)} of {len(data_list)} images '
                f'listed in {source}, e.g. {names}{hint}')

    def _set_labels(self, info: dict, labels: Sequence[int]) -> None:
        labels = np.unique(np.asarray(labels, dtype=np.int64))
        gt_score = np.zeros(self.num_fg_classes, dtype=np.float32)
        gt_score[labels - 1] = 1
        info['img_labels'] = labels
        info['gt_score'] = gt_score

    def _parse_label_entry(self, value, image_id: str, path: str) -> List[int]:
        classes = list(self.metainfo['classes'])
        num_fg = self.num_fg_classes
        if isinstance(value, np.ndarray):
            if value.shape != (num_fg, ):
                raise ValueError(
                    f'image-label file {path}: the vector of {image_id!r} '
                    f'has length {value.size}, but the dataset has {num_fg} '
                    f'foreground classes ({len(classes)} classes with '
                    'background); the file does not match the dataset '
                    'classes')
            return (np.flatnonzero(value > 0.5) + 1).tolist()
        out = []
        for item in value:
            item = str(item)
            if item.isdigit():
                idx = int(item)
                if not 1 <= idx <= num_fg:
                    raise ValueError(
                        f'image-label file {path}: label {idx} of '
                        f'{image_id!r} is outside 1..{num_fg}')
            elif item in classes[1:]:
                idx = classes.index(item)
            else:
                raise ValueError(
                    f'image-label file {path}: unknown class {item!r} for '
                    f'{image_id!r}; dataset classes are {classes[1:]}')
            out.append(idx)
        return out

    def _labels_from_file(self, data_list: List[dict], path: str) -> Dict:
        """Attach labels from ``path``; returns the loaded table."""
        table = load_cls_label_file(path)
        missing = []
        for info in data_list:
            image_id = self._image_id(info)
            value = None
            for key in _id_variants(image_id):
                if key in table:
                    value = table[key]
                    break
            if value is None:
                missing.append(image_id)
                continue
            self._set_labels(info,
                             self._parse_label_entry(value, image_id, path))
        if missing:
            raise KeyError(
                f'image-label file {path} has no entry for {len(missing)} of '
                f'{len(data_list)} images, e.g. {missing[:5]}')
        return table

    def _labels_from_masks(self, data_list: List[dict]) -> None:
        if any('seg_map_path' not in d for d in data_list):
            raise ValueError(
                f'{type(self).__name__}: image labels must come from masks '
                '(no cls_label_file found: '
                f'{self._resolve(self.cls_label_file)!r}), but no mask folder '
                '(data_prefix.seg_map_path) is set')
        num_classes = len(self.metainfo['classes'])
        ignore = self.ignore_index
        items = data_list
        if len(data_list) >= 1000:
            print_log(
                f'{type(self).__name__}: deriving image labels from '
                f'{len(data_list)} masks (a cls_labels.npy file skips this)',
                logger='current')
            items = track_iter_progress(data_list)
        for info in items:
            path = info['seg_map_path']
            try:
                with Image.open(path) as im:
                    mask = np.asarray(im)
            except Exception as e:  # PIL raises several exception types
                raise OSError(f'cannot read mask {path}: {e}') from e
            if mask.ndim != 2:
                raise ValueError(f'mask {path} must be a single-channel label '
                                 f'map (mode P or L), got shape {mask.shape}')
            if info.get('label_map'):
                mapped = mask.copy()
                for old, new in info['label_map'].items():
                    mapped[mask == old] = new
                mask = mapped
            present = np.unique(mask)
            present = present[(present != 0) & (present != ignore)]
            bad = present[present >= num_classes]
            if bad.size:
                raise ValueError(
                    f'mask {path} has label(s) {bad.tolist()} but the dataset '
                    f'has {num_classes} classes (ignore index {ignore})')
            self._set_labels(info, present)
