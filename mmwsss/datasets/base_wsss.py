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
``'2007_000032'`` or IRN-style integers such as ``2007000032``; read
without running any code of the pickle, see :func:`load_cls_label_file`),
from a ``.npz``, ``.json`` or text file, or are derived from the pixel
masks. The dataset can also be reduced to a seeded,
class-balanced fraction of its images (the "reduced training set"
experiments of RPNet).

What a method reads besides images, masks and image labels comes through
generic means, never through a keyword of its own: per-image files from
``data_prefix`` folders (saliency maps, saved CAMs; pseudo masks are simply
the ``seg_map_path`` folder), selections of images from dataset wrappers
(:mod:`mmwsss.datasets.wrappers`), and the keys
:class:`~mmwsss.datasets.PackWSSSInputs` is told to pack.
"""
import codecs
import collections
import math
import os
import os.path as osp
import pickle
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.logging import print_log
from mmengine.utils import track_iter_progress
from mmseg.datasets import BaseSegDataset
from PIL import Image

__all__ = [
    'BaseWSSSDataset', 'load_cls_label_file', 'class_balanced_subset',
    'OUTSIDE_PART'
]

#: What a ``..`` component of an image id becomes when the dataset is
#: allowed to read images outside its image folder
#: (``allow_outside_paths=True``): per-image outputs named by the id then
#: stay inside their folder.
OUTSIDE_PART = '%2E%2E'

#: From this many images on, a long pass over all of them shows progress.
_PROGRESS_MIN = 1000


def _id_variants(name: str) -> List[Union[str, int]]:
    """Keys under which ``name`` may appear in an image-label file: the id,
    and for VOC-style ids ``'2007_000032'`` also the IRN-style integer
    ``2007000032`` and its string ``'2007000032'`` (JSON keys)."""
    keys: List[Union[str, int]] = [name]
    digits = name.replace('_', '')
    if digits.isdigit():
        keys += [int(digits), digits]
    return keys


def _latin1_encode(obj: str,
                   encoding: str = 'utf-8',
                   errors: str = 'strict') -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of arrays use it (the raw
    bytes as a latin-1 string), and nothing else."""
    name = str(encoding).lower().replace('-', '').replace('_', '')
    if not isinstance(obj, str) or name not in ('latin1', 'iso88591', 'l1'):
        raise pickle.UnpicklingError(
            f'_codecs.encode is only allowed on a str with the latin-1 '
            f'codec, got a {type(obj).__name__} and {encoding!r}')
    return codecs.encode(obj, 'latin-1')


def _safe_npy_globals() -> Dict[tuple, Any]:
    """The globals a pickled dict of numpy arrays and scalars needs, under
    the module names numpy 1.x (``numpy.core``) and 2.x (``numpy._core``)
    write."""
    core = getattr(np, '_core', None) or np.core
    table = {
        ('numpy', 'ndarray'): np.ndarray,
        ('numpy', 'dtype'): np.dtype,
        ('_codecs', 'encode'): _latin1_encode,
        ('collections', 'OrderedDict'): collections.OrderedDict,
    }
    for mod in ('numpy.core', 'numpy._core'):
        table[(mod + '.multiarray', '_reconstruct')] = \
            core.multiarray._reconstruct
        table[(mod + '.multiarray', 'scalar')] = core.multiarray.scalar
        table[(mod + '.numeric', '_frombuffer')] = core.numeric._frombuffer
    return table


class _RefusedPickle(pickle.UnpicklingError):
    """A pickle needs something an image-label file must not contain."""


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays, dtypes, scalars and plain
    Python containers, and refuses every other global (a pickle calls what
    its globals name: a ``__reduce__`` can run any function)."""

    def __init__(self, file, path: str) -> None:
        super().__init__(file, encoding='latin1')
        self.path = path
        self.allowed = _safe_npy_globals()

    def find_class(self, module: str, name: str) -> Any:
        """The allowed global ``module.name``; raise for any other."""
        obj = self.allowed.get((module, name))
        if obj is None:
            raise _RefusedPickle(
                f'image-label file {self.path} was refused: its pickle '
                f'needs the global {module}.{name}, which a dict of image '
                'ids and label vectors does not (a pickle can run code, so '
                'only numpy arrays, dtypes and scalars are built). Use a '
                '.json, .txt or .npz label file instead')
        return obj

    def persistent_load(self, pid: Any) -> Any:
        """Refuse persistent ids (no plain pickle of arrays has them)."""
        raise _RefusedPickle(
            f'image-label file {self.path} was refused: its pickle holds a '
            'persistent id')


def _label_vector(path: str, key: Any, value: Any) -> np.ndarray:
    try:
        vec = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f'image-label file {path}: the entry of {key!r} is a '
            f'{type(value).__name__}, not a vector of numbers ({e})') from e
    if vec.ndim != 1:
        raise ValueError(
            f'image-label file {path}: the entry of {key!r} must be a 1-D '
            f'vector over the foreground classes, got shape {vec.shape}')
    return vec


def _label_key(path: str, key: Any) -> Union[str, int]:
    if isinstance(key, np.generic):
        key = key.item()
    if isinstance(key, bytes):
        key = key.decode('latin-1')
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise ValueError(
            f'image-label file {path}: image ids must be str or int, got '
            f'{key!r} ({type(key).__name__})')
    return key


def _load_npy_labels(path: str) -> Dict[Union[str, int], np.ndarray]:
    """Read a PSA/IRN ``cls_labels.npy`` without executing its pickle."""
    with open(path, 'rb') as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f'unsupported .npy format version {version}')
        if not dtype.hasobject:
            raise ValueError(
                'expected a pickled dict {image_id: vector} (a 0-d object '
                f'array), got a {dtype} array of shape {shape}; for a plain '
                'array of labels use a .npz file {image_id: vector}')
        obj = _SafeUnpickler(f, path).load()
    if isinstance(obj, np.ndarray) and obj.dtype == object and \
            obj.ndim == 0:
        obj = obj.item()
    if not isinstance(obj, dict):
        raise ValueError('expected a pickled dict {image_id: vector}, '
                         f'got {type(obj).__name__}')
    return {
        _label_key(path, k): _label_vector(path, k, v)
        for k, v in obj.items()
    }


def _load_npz_labels(path: str) -> Dict[Union[str, int], np.ndarray]:
    """Read a ``.npz`` of one label vector per image id (no pickle)."""
    with np.load(path, allow_pickle=False) as f:
        return {key: _label_vector(path, key, f[key]) for key in f.files}


def load_cls_label_file(path: str) -> Dict[Union[str, int], Any]:
    """Load an image-label file, without running code from it.

    Supported formats:

    - ``.npy``: a pickled dict ``{image_id: float vector}`` (PSA/IRN/EPS;
      ids str such as ``'2007_000032'`` or int such as ``2007000032``). The
      pickle is read by a restricted unpickler that only builds numpy
      arrays, dtypes and scalars and plain containers: a file whose pickle
      names any other global (e.g. a ``__reduce__`` calling
      ``os.system``) is refused before anything runs, with an error naming
      the file and the global. ``tools/dataset_converters/
      cls_labels_to_json.py`` converts such a file to one of the formats
      below, which cannot carry code.
    - ``.npz``: one float vector per image id (``np.savez(path,
      **{image_id: vector})``), read with ``allow_pickle=False``.
    - ``.txt``/``.csv``: one image per line, ``<image_id> <label> ...`` where
      each label is a foreground class index (1-based, as in the masks) or
      a class name; resolved later against the dataset's classes.
    - ``.json``: ``{image_id: [label, ...]}`` with the same label rules.

    Args:
        path (str): The file.

    Returns:
        dict: Image id to either a float32 vector (``.npy``, ``.npz``) or a
        list of labels (text/JSON).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it cannot be read or parsed, or its pickle needs
            anything but numpy arrays, dtypes and scalars; the message
            names the file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'image-label file not found: {path}')
    ext = osp.splitext(path)[1].lower()
    try:
        if ext == '.npy':
            return _load_npy_labels(path)
        if ext == '.npz':
            return _load_npz_labels(path)
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
    except _RefusedPickle as e:
        raise ValueError(str(e)) from None
    except (OSError, ValueError, EOFError, TypeError, AttributeError,
            IndexError, KeyError, pickle.UnpicklingError) as e:
        if isinstance(e, ValueError) and str(e).startswith(
                f'image-label file {path}:'):
            raise  # already names the file and the entry
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

    Every image has an *image id*, its path relative to the image folder
    (``data_prefix.img_path``) without extension, ``/``-separated: the split
    file entry (``'2007_000032'``, ``'a/x'``), or the file's path under the
    folder when there is no split file. It is the data info's ``img_id``
    (packed into every sample's metainfo by
    :class:`~mmwsss.datasets.PackWSSSInputs`) and names every per-image
    file mmwsss reads or writes: entries ``a/x`` and ``b/x`` are two
    images, with two pseudo masks ``<out>/a/x.png`` and ``<out>/b/x.png``.
    For entries without a folder it is the file name without extension, as
    always. An entry that resolves outside the image folder (``../x``, an
    absolute path) is an error naming the split file and the entry, unless
    ``allow_outside_paths`` is set.

    Per-image files besides the image and its mask come from ``data_prefix``:
    every key ``<name>_path`` other than ``img_path`` and ``seg_map_path``
    names a folder, and each data info gets
    ``<name>_path = <folder>/<image id><suffix>`` for a transform to read,
    e.g.
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
        check_images (bool): Also decode every image and mask at
            construction (with a progress bar from 1,000 images on) and
            fail with one error that names every file that cannot be
            decoded or is truncated, instead of failing when a worker
            reaches it, hours into a run. Costs one full read of the data.
            Defaults to False.
        allow_outside_paths (bool): Accept split entries that resolve
            outside the image folder (``../other/x``, ``/abs/x``). Their
            image id keeps the path relative to the image folder with each
            ``..`` written as ``%2E%2E`` (:data:`OUTSIDE_PART`), so that the
            files named by it stay inside their folders; their mask is then
            ``<seg_map_path folder>/<image id><seg_map_suffix>`` too (as a
            pseudo-mask folder written by a test pass has it), not the
            entry joined to the mask folder. Defaults to False: such an
            entry is an error naming the split file and the entry.
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
                 check_images: bool = False,
                 allow_outside_paths: bool = False,
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
        self.check_images = check_images
        self.allow_outside_paths = allow_outside_paths
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
        """Load image/mask paths, give every image its id and the extra
        per-image file paths, check that the files exist (and decode,
        with ``check_images``), attach image labels, apply the subset."""
        data_list = super().load_data_list()
        if not data_list:
            raise ValueError(
                f'{type(self).__name__} found no images (ann_file='
                f'{self.ann_file!r}, img_path='
                f'{self.data_prefix.get("img_path")!r})')
        self._set_image_ids(data_list)
        for key in self.extra_file_keys:
            folder = self.data_prefix[key]
            suffix = self.file_suffixes.get(key, self.DEFAULT_FILE_SUFFIX)
            for info in data_list:
                info[key] = osp.join(folder, self._image_id(info) + suffix)
        if self.check_files:
            self._check_files(data_list)
        if self.check_images:
            self._check_images(data_list)
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
        """The image id of a data info (see the class docstring)."""
        if 'img_id' in info:
            return info['img_id']
        return osp.splitext(osp.basename(info['img_path']))[0]

    def _split_entry(self, img_path: str, img_dir: str) -> str:
        """The split-file entry (or listed file) an ``img_path`` came from,
        for messages."""
        entry = img_path
        if self.img_suffix and entry.endswith(self.img_suffix):
            entry = entry[:-len(self.img_suffix)]
        prefix = osp.join(img_dir, '') if img_dir else ''
        if prefix and entry.startswith(prefix):
            entry = entry[len(prefix):]
        return entry

    def _set_image_ids(self, data_list: List[dict]) -> None:
        """Set every data info's ``img_id``: its image's path relative to
        the image folder, without extension, ``/``-separated.

        Entries outside the image folder are an error (or, with
        ``allow_outside_paths``, get ids with :data:`OUTSIDE_PART` for
        ``..`` and masks found by id); two different files with one id
        are an error.
        """
        img_dir = self.data_prefix.get('img_path') or ''
        base = osp.abspath(img_dir or os.curdir)
        source = self.ann_file or 'the image folder listing'
        outside, seen = [], {}
        for info in data_list:
            path = osp.normpath(osp.abspath(info['img_path']))
            rel = osp.relpath(path, base)
            parts = rel.split(os.sep)
            if os.altsep:
                parts = [q for p in parts for q in p.split(os.altsep)]
            leaves = parts[0] == os.pardir
            if leaves:
                outside.append((self._split_entry(info['img_path'], img_dir),
                                info['img_path']))
                parts = [OUTSIDE_PART if p == os.pardir else p
                         for p in parts]
            img_id = osp.splitext('/'.join(parts))[0]
            if seen.setdefault(img_id, path) != path:
                raise ValueError(
                    f'{type(self).__name__}: two images of {source} have '
                    f'the image id {img_id!r}: {seen[img_id]} and {path}; '
                    'image ids name the per-image files, rename one')
            info['img_id'] = img_id
            if leaves and self.allow_outside_paths and \
                    'seg_map_path' in info:
                folder = self.data_prefix.get('seg_map_path') or ''
                info['seg_map_path'] = osp.join(
                    folder, img_id + self.seg_map_suffix)
        if outside and not self.allow_outside_paths:
            shown = ', '.join(f'{e!r} ({p})' for e, p in outside[:5])
            more = f' and {len(outside) - 5} more' if len(outside) > 5 \
                else ''
            many = len(outside) > 1
            raise ValueError(
                f'{type(self).__name__}: {len(outside)} '
                f'{"entries" if many else "entry"} of {source} '
                f'{"resolve" if many else "resolves"} outside the image '
                f'folder {img_dir or base}: '
                f'{shown}{more}. Image ids are paths inside that folder '
                '(they name the output files); move the images there, or '
                'pass allow_outside_paths=True to the dataset to read them '
                'anyway')

    def _check_images(self, data_list: List[dict]) -> None:
        """Decode every image and mask; one error names every file that
        cannot be decoded (missing, truncated, not an image)."""
        keys = [k for k in self.BASE_PREFIX_KEYS
                if any(k in d for d in data_list)]
        paths = [d[k] for d in data_list for k in keys if k in d]
        items = paths
        if len(data_list) >= _PROGRESS_MIN:
            print_log(
                f'{type(self).__name__}: decoding {len(paths)} images and '
                'masks (check_images=True)', logger='current')
            items = track_iter_progress(paths)
        bad = []
        for path in items:
            try:
                with Image.open(path) as im:
                    im.load()
            except Exception as e:  # PIL raises several exception types
                bad.append(f'{path} ({type(e).__name__}: {e})')
        if bad:
            source = self.ann_file or 'the image folder'
            raise OSError(
                f'{type(self).__name__}: {len(bad)} of {len(paths)} image '
                f'and mask files of {source} cannot be decoded:\n  ' +
                '\n  '.join(bad))

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
