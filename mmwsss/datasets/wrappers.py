# Copyright (c) OpenMMLab. All rights reserved.
"""Dataset wrappers that keep a seeded selection of a dataset's images.

A method that reads only part of a dataset, or needs to know why an image
was kept, wraps the dataset instead of adding a keyword to
:class:`~mmwsss.datasets.BaseWSSSDataset`, in the manner of mmengine's
``ClassBalancedDataset`` / ``RepeatDataset``:

- :class:`PerClassDrawDataset`: at most ``K`` images of every class, drawn
  per class (the class-pattern pass of Luo & Yang, AAAI 2020); each kept
  image carries ``selected_classes``.
- :class:`ClassBalancedSubsetDataset`: a class-balanced fraction of the
  images (the reduced training sets of RPNet); the same selection as the
  dataset argument ``subset_fraction``.
- :class:`ImageGroupDataset`: every image with 1 to 3 reference images that
  share a class with it (RPNet's image groups); its batches are collated
  by :func:`group_collate`.

They select from the image labels (``img_labels``) of the wrapped dataset's
data infos, keep the selected images in their original order and run the
wrapped dataset's pipeline. A wrapper may wrap another one (e.g. groups of
a class-balanced subset).
"""
import copy
import logging
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init, pseudo_collate
from mmengine.logging import print_log
from mmengine.registry import FUNCTIONS
from mmseg.registry import DATASETS

from .base_wsss import class_balanced_subset

__all__ = [
    'PerClassDrawDataset', 'ClassBalancedSubsetDataset', 'ImageGroupDataset',
    'group_collate', 'sample_per_class'
]


class _ImageSelectionDataset:
    """Base of the wrappers: a selection of the images of ``dataset``.

    Subclasses implement :meth:`_select`, which maps the image labels of all
    images to the kept indices (ascending) and per kept image the fields to
    add to its data info.

    Args:
        dataset (BaseDataset | dict): The dataset or its config (or another
            of these wrappers); its data infos must carry ``img_labels`` (an
            mmwsss dataset with image labels, i.e. ``label_source`` other
            than ``'none'``).
        lazy_init (bool): Defer the selection until the first access, like
            mmengine's dataset wrappers. Defaults to False.
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 lazy_init: bool = False) -> None:
        if isinstance(dataset, dict):
            self.dataset = DATASETS.build(dataset)
        elif isinstance(dataset, (BaseDataset, _ImageSelectionDataset)):
            self.dataset = dataset
        else:
            raise TypeError(
                f'{type(self).__name__}: dataset must be a BaseDataset or '
                f'its config dict, got {type(dataset).__name__}')
        self._metainfo = self.dataset.metainfo
        self._indices: List[int] = []
        self._extra: List[dict] = []
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        """dict: The meta information of the wrapped dataset (a copy)."""
        return copy.deepcopy(self._metainfo)

    # the wrapped dataset's pipeline settings (through nested wrappers)
    @property
    def pipeline(self):
        """The wrapped dataset's pipeline."""
        return self.dataset.pipeline

    @property
    def test_mode(self) -> bool:
        """bool: The wrapped dataset's ``test_mode``."""
        return self.dataset.test_mode

    @property
    def max_refetch(self) -> int:
        """int: The wrapped dataset's ``max_refetch``."""
        return self.dataset.max_refetch

    def full_init(self) -> None:
        """Initialise the wrapped dataset and make the selection."""
        if self._fully_initialized:
            return
        self.dataset.full_init()
        labels = []
        for i in range(len(self.dataset)):
            info = self.dataset.get_data_info(i)
            if 'img_labels' not in info:
                raise ValueError(
                    f'{type(self).__name__} selects images by their image '
                    f'labels, but the data info of {info.get("img_path")} '
                    f'({type(self.dataset).__name__}) has no "img_labels" '
                    "(label_source='none'?)")
            labels.append(np.asarray(info['img_labels']))
        self._indices, self._extra = self._select(labels)
        self._fully_initialized = True

    def _select(self,
                labels: List[np.ndarray]) -> Tuple[List[int], List[Dict]]:
        raise NotImplementedError

    @force_full_init
    def get_ori_index(self, idx: int) -> int:
        """The index in the wrapped dataset of the ``idx``-th kept image."""
        return self._indices[idx]

    @force_full_init
    def get_data_info(self, idx: int) -> dict:
        """The wrapped dataset's data info of the ``idx``-th kept image,
        with the fields of the selection and ``sample_idx = idx``."""
        info = self.dataset.get_data_info(self._indices[idx])
        info.update(copy.deepcopy(self._extra[idx]))
        info['sample_idx'] = idx
        return info

    @force_full_init
    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, idx: int) -> dict:
        if not self._fully_initialized:
            print_log(
                'Please call `full_init` method manually to accelerate the '
                'speed.',
                logger='current')
            self.full_init()
        pipeline = self.pipeline
        if self.test_mode:
            data = pipeline(self.get_data_info(idx))
            if data is None:
                raise RuntimeError('the test pipeline returned None for '
                                   f'{self.get_data_info(idx)["img_path"]}')
            return data
        for _ in range(self.max_refetch + 1):
            data = pipeline(self.get_data_info(idx))
            if data is not None:
                return data
            idx = int(np.random.randint(0, len(self)))
        raise RuntimeError(
            f'{type(self).__name__}: the pipeline returned None '
            f'{self.max_refetch + 1} times in a row')

    def get_subset_(self, indices):
        raise NotImplementedError(
            f'{type(self).__name__} does not support get_subset_; '
            'subset the wrapped dataset instead')

    def get_subset(self, indices):
        raise NotImplementedError(
            f'{type(self).__name__} does not support get_subset; '
            'subset the wrapped dataset instead')


def sample_per_class(labels: Sequence[np.ndarray], max_per_class: int,
                     seed: int) -> Dict[int, List[int]]:
    """Draw at most ``max_per_class`` images of every class, seeded.

    Luo & Yang (AAAI 2020) estimate each class pattern from at most 800
    (VOC) or 2000 (COCO) randomly chosen images of the class. Each class
    draws independently from its own images with a generator seeded by
    ``(seed, class)``, so the draw of one class does not depend on the
    others; an image drawn for several classes counts for each of them.

    Args:
        labels (Sequence[np.ndarray]): Per image, its class indices.
        max_per_class (int): The cap ``K``.
        seed (int): Seed.

    Returns:
        dict: Image index -> sorted classes it was drawn for (images drawn
        for no class are absent).
    """
    if max_per_class < 1:
        raise ValueError(
            f'max_images_per_class must be >= 1, got {max_per_class}')
    members: Dict[int, List[int]] = {}
    for idx, lbl in enumerate(labels):
        for c in lbl:
            members.setdefault(int(c), []).append(idx)
    chosen: Dict[int, List[int]] = {}
    for c in sorted(members):
        idx = members[c]
        if len(idx) > max_per_class:
            rng = np.random.default_rng([seed, c])
            idx = sorted(rng.choice(idx, max_per_class, replace=False))
        for i in idx:
            chosen.setdefault(int(i), []).append(c)
    return chosen


@DATASETS.register_module()
class PerClassDrawDataset(_ImageSelectionDataset):
    """At most ``max_images_per_class`` images of every class.

    Luo & Yang (`Learning Saliency-Free Model with Generic Features for
    Weakly-Supervised Semantic Segmentation, AAAI 2020
    <https://ojs.aaai.org/index.php/AAAI/article/view/6842>`_) estimate each
    class pattern from at most 800 (VOC) or 2000 (COCO) randomly chosen
    images of the class. Every class draws independently from its own
    images with a generator seeded by ``(seed, class)``
    (:func:`~mmwsss.datasets.sample_per_class`); an image drawn for several
    classes is kept once, in its original order, and its data info gets
    ``selected_classes`` (``np.int64`` array, ascending): the classes it was
    drawn for, which the class-pattern fit of :class:`~mmwsss.models.ClassPatternSegmentor` reads
    (pack it with ``PackWSSSInputs(meta_keys=(..., 'selected_classes'))``).

    .. code:: python

        dataset = dict(
            type='PerClassDrawDataset',
            max_images_per_class=800,
            seed=0,
            dataset=dict(type='WSSSVOCDataset', ...))

    Args:
        dataset (BaseDataset | dict): The dataset (with image labels).
        max_images_per_class (int): The cap ``K`` (>= 1).
        seed (int): Seed of the draw. Defaults to 0.
        lazy_init (bool): Defer the draw until the first access. Defaults
            to False.
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 max_images_per_class: int,
                 seed: int = 0,
                 lazy_init: bool = False) -> None:
        if int(max_images_per_class) < 1:
            raise ValueError(f'{type(self).__name__}: max_images_per_class '
                             f'must be >= 1, got {max_images_per_class}')
        self.max_images_per_class = int(max_images_per_class)
        self.seed = seed
        super().__init__(dataset, lazy_init=lazy_init)

    def _select(self,
                labels: List[np.ndarray]) -> Tuple[List[int], List[Dict]]:
        chosen = sample_per_class(labels, self.max_images_per_class, self.seed)
        indices = sorted(chosen)
        print_log(
            f'{type(self).__name__}: at most {self.max_images_per_class} '
            f'images per class (seed {self.seed}) keeps {len(indices)} of '
            f'{len(labels)} images',
            logger='current')
        extra = [
            dict(selected_classes=np.asarray(chosen[i], np.int64))
            for i in indices
        ]
        return indices, extra


@DATASETS.register_module()
class ClassBalancedSubsetDataset(_ImageSelectionDataset):
    """A seeded, class-balanced fraction of the images.

    The reduced training sets of RPNet's experiments (1/2 ... 1/16 of the
    images): every class (and the group of background-only images) keeps
    at least ``ceil(fraction * n_c)`` of its images, see
    :func:`~mmwsss.datasets.class_balanced_subset`. Selects exactly the
    images of the dataset argument ``subset_fraction`` with
    ``subset_seed=seed``, in the same order.

    Args:
        dataset (BaseDataset | dict): The dataset (with image labels).
        fraction (float): In ``(0, 1]``.
        seed (int): Seed of the subset. Defaults to 0.
        lazy_init (bool): Defer the selection until the first access.
            Defaults to False.
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 fraction: float,
                 seed: int = 0,
                 lazy_init: bool = False) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f'{type(self).__name__}: fraction must be in '
                             f'(0, 1], got {fraction}')
        self.fraction = fraction
        self.seed = seed
        super().__init__(dataset, lazy_init=lazy_init)

    def _select(self,
                labels: List[np.ndarray]) -> Tuple[List[int], List[Dict]]:
        keep = class_balanced_subset(labels, self.fraction, self.seed)
        print_log(
            f'{type(self).__name__}: subset {self.fraction:.4g} (seed '
            f'{self.seed}) keeps {len(keep)} of {len(labels)} images',
            logger='current')
        return keep, [dict() for _ in keep]


def _set_meta(result, **meta) -> None:
    """Add ``meta`` to the metainfo of a packed result's ``data_samples``
    (or to the result itself when it has no data sample, e.g. an empty
    pipeline)."""
    samples = result.get('data_samples') if isinstance(result, dict) else None
    if samples is not None and hasattr(samples, 'set_metainfo'):
        samples.set_metainfo(meta)
    elif isinstance(result, dict):
        result.update(meta)
    else:
        raise TypeError('cannot set the group meta information on a '
                        f'pipeline output of type {type(result).__name__}')


@DATASETS.register_module()
class ImageGroupDataset(_ImageSelectionDataset):
    """Each image with 1 to 3 reference images that share a class with it.

    RPNet (Liu et al., "Cross-Image Region Mining with Region Prototypical
    Network for Weakly Supervised Segmentation",
    https://arxiv.org/abs/2108.07413) builds class prototypes from a query
    image and reference images of the same classes. For every reference, this
    wrapper draws a class uniformly from the query's image labels, then an
    image uniformly from that class's list; the per-class lists are built
    from the image labels of the wrapped dataset, i.e. of the split in use
    (a dataset with ``subset_fraction``, a
    :class:`ClassBalancedSubsetDataset`...), so a reference is never
    outside the training split. The references of one query are drawn
    independently (a group may hold the same reference twice).

    ``dataset[i]`` is a list of the wrapped pipeline's outputs, query
    first: each image (query and references) runs the full train pipeline
    (its own augmentation) and carries its own labels; each data sample's
    metainfo gets ``group_role`` (``'query'`` or ``'reference'``) and, for
    a reference, ``pair_class`` (the class index it was drawn for, -1 when
    the query has no foreground class). Collate with
    :func:`group_collate` (``collate_fn=dict(type='group_collate')``),
    which flattens the groups of a batch and numbers them (``group_id``);
    ``batch_size`` counts queries.

    Edge cases:

    - The query can be its own reference, as in RPNet's code: always so for
      a class that only the query has. With ``exclude_self=True`` the
      class is drawn among the query's classes that another image has; the
      query is its own reference only when it alone has each of its
      classes (a warning at initialisation names such classes).
    - A query without a foreground class (background-only image) shares no
      class with any image: ``unpaired`` decides. ``'self'`` (default): it
      is its own reference (so a split with background-only images, e.g.
      the synthetic set's ~10 %, trains); ``'any'``: a uniformly drawn
      image of the split; ``'error'``: initialisation raises an error that
      names the files.

    Randomness: the draws use NumPy's global generator, as mmseg's
    transforms do, so mmengine's ``randomness.seed`` makes them
    reproducible, and its ``worker_init_fn`` (seeded by rank and worker)
    makes them differ between dataloader workers and ranks. They differ
    between epochs, except that workers without ``persistent_workers`` are
    re-seeded identically each epoch (as the augmentations are); the
    shuffled sampler still gives their draws to other queries.

    The wrapper keeps every image of the wrapped dataset (``len`` is the
    number of queries, ``get_data_info(i)`` the query's info) and is
    index-based, so it works with mmengine's ``DefaultSampler`` and
    ``InfiniteSampler``, distributed or not.

    .. code:: python

        train_dataloader = dict(
            batch_size=16,
            collate_fn=dict(type='group_collate'),
            dataset=dict(
                type='ImageGroupDataset',
                num_references=1,
                dataset=dict(type='WSSSVOCDataset', ...)))

    Args:
        dataset (BaseDataset | dict): The dataset (with image labels), its
            config, or another wrapper of this module.
        num_references (int | tuple[int, int]): References per query: a
            number in 1..3, or ``(min, max)`` for a number drawn uniformly
            per item (both ends included). RPNet's code uses 1; the paper
            reports prototypes from up to 4 images. Defaults to 1.
        exclude_self (bool): Avoid the query as its own reference (see
            above). Defaults to False, as RPNet's code.
        unpaired (str): ``'self'``, ``'any'`` or ``'error'``: what a query
            without a foreground class gets (see above). Defaults to
            ``'self'``.
        lazy_init (bool): Defer building the class lists until the first
            access. Defaults to False.
    """

    UNPAIRED = ('self', 'any', 'error')
    MAX_REFERENCES = 3

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 num_references: Union[int, Sequence[int]] = 1,
                 exclude_self: bool = False,
                 unpaired: str = 'self',
                 lazy_init: bool = False) -> None:
        name = type(self).__name__

        def is_int(n) -> bool:
            return isinstance(n, (int, np.integer)) and not isinstance(n, bool)

        if is_int(num_references):
            lo = hi = int(num_references)
        elif (isinstance(num_references,
                         (list, tuple)) and len(num_references) == 2
              and all(is_int(n) for n in num_references)):
            lo, hi = (int(n) for n in num_references)
        else:
            raise TypeError(f'{name}: num_references must be an int or a '
                            f'(min, max) pair of ints, got {num_references!r}')
        if not 1 <= lo <= hi <= self.MAX_REFERENCES:
            raise ValueError(
                f'{name}: num_references must be in 1..{self.MAX_REFERENCES} '
                f'(a range with min <= max), got {num_references!r}')
        if unpaired not in self.UNPAIRED:
            raise ValueError(f'{name}: unpaired must be one of '
                             f'{self.UNPAIRED}, got {unpaired!r}')
        self.num_references = (lo, hi)
        self.exclude_self = bool(exclude_self)
        self.unpaired = unpaired
        self._labels: List[np.ndarray] = []
        self._members: Dict[int, np.ndarray] = {}
        super().__init__(dataset, lazy_init=lazy_init)

    def _class_name(self, c: int) -> str:
        classes = self._metainfo.get('classes') or ()
        return f'{c} ({classes[c]})' if 0 <= c < len(classes) else str(c)

    def _select(self,
                labels: List[np.ndarray]) -> Tuple[List[int], List[Dict]]:
        name = type(self).__name__
        self._labels = [np.unique(np.asarray(lbl, np.int64)) for lbl in labels]
        members: Dict[int, List[int]] = {}
        for idx, lbl in enumerate(self._labels):
            for c in lbl:
                members.setdefault(int(c), []).append(idx)
        self._members = {
            c: np.asarray(v, np.int64)
            for c, v in sorted(members.items())
        }
        unpaired = [i for i, lbl in enumerate(self._labels) if not len(lbl)]
        if unpaired and self.unpaired == 'error':
            paths = [
                str(self.dataset.get_data_info(i).get('img_path', i))
                for i in unpaired
            ]
            more = f' and {len(paths) - 5} more' if len(paths) > 5 else ''
            raise ValueError(
                f'{name}: {len(paths)} image(s) of the split have no '
                'foreground class, so no reference image can share a class '
                f'with them: {", ".join(paths[:5])}{more}. Remove them from '
                "the split, or pass unpaired='self' (the image is its own "
                "reference) or unpaired='any' (a random image of the split)")
        single = [c for c, v in self._members.items() if len(v) == 1]
        if single and self.exclude_self:
            print_log(
                f'{name}: class(es) '
                f'{", ".join(self._class_name(c) for c in single)} have a '
                'single image in the split; an image that has no other class '
                'is its own reference despite exclude_self=True',
                logger='current',
                level=logging.WARNING)
        print_log(
            f'{name}: {len(labels)} queries, {self.num_references[0]}-'
            f'{self.num_references[1]} reference(s) each; '
            f'{len(unpaired)} without a foreground class '
            f"(unpaired='{self.unpaired}')",
            logger='current')
        return list(range(len(labels))), [dict() for _ in labels]

    def _draw_one(self, idx: int) -> Tuple[int, int]:
        """One reference of query ``idx``: ``(index, class)``; class -1 for
        a query without a foreground class."""
        labels = self._labels[idx]
        if not len(labels):
            if self.unpaired == 'any':
                n = len(self._labels)
                if self.exclude_self and n > 1:
                    j = int(np.random.randint(n - 1))
                    return (j + (j >= idx), -1)
                return (int(np.random.randint(n)), -1)
            if self.unpaired == 'error':  # refused at initialisation
                raise ValueError(
                    f'{type(self).__name__}: '
                    f'{self.get_data_info(idx).get("img_path")} has no '
                    'foreground class to draw a reference for')
            return (idx, -1)
        if self.exclude_self:
            eligible = [c for c in labels if len(self._members[int(c)]) > 1]
            if not eligible:  # only the query has its classes
                c = int(labels[np.random.randint(len(labels))])
                return (idx, c)
            c = int(eligible[np.random.randint(len(eligible))])
            pool = self._members[c]
            j = int(np.random.randint(len(pool) - 1))
            j += j >= int(np.searchsorted(pool, idx))  # skip the query
            return (int(pool[j]), c)
        c = int(labels[np.random.randint(len(labels))])
        pool = self._members[c]
        return (int(pool[np.random.randint(len(pool))]), c)

    @force_full_init
    def draw_references(self, idx: int) -> List[Tuple[int, int]]:
        """Draw the references of query ``idx`` (global NumPy generator).

        Returns:
            list[tuple[int, int]]: Per reference, its index in this dataset
            and the class it was drawn for (-1 for a query without a
            foreground class).
        """
        lo, hi = self.num_references
        num = lo if lo == hi else int(np.random.randint(lo, hi + 1))
        return [self._draw_one(idx) for _ in range(num)]

    def __getitem__(self, idx: int) -> List[dict]:
        if not self._fully_initialized:
            print_log(
                'Please call `full_init` method manually to accelerate the '
                'speed.',
                logger='current')
            self.full_init()
        name = type(self).__name__
        pipeline = self.pipeline
        for _ in range(self.max_refetch + 1):
            query = pipeline(self.get_data_info(idx))
            if query is not None:
                break
            if self.test_mode:
                raise RuntimeError('the test pipeline returned None for '
                                   f'{self.get_data_info(idx)["img_path"]}')
            idx = int(np.random.randint(0, len(self)))
        else:
            raise RuntimeError(f'{name}: the pipeline returned None '
                               f'{self.max_refetch + 1} times in a row')
        _set_meta(query, group_role='query')
        group = [query]
        for ref, cls in self.draw_references(idx):
            for _ in range(self.max_refetch + 1):
                out = pipeline(self.get_data_info(ref))
                if out is not None:
                    break
                ref, cls = self._draw_one(idx)  # another reference
            else:
                raise RuntimeError(
                    f'{name}: the pipeline returned None for '
                    f'{self.max_refetch + 1} references in a row of '
                    f'{self.get_data_info(idx).get("img_path")}')
            _set_meta(out, group_role='reference', pair_class=cls)
            group.append(out)
        return group


@FUNCTIONS.register_module()
def group_collate(data_batch: Sequence) -> Any:
    """Collate a batch of image groups into one flat batch.

    The items of :class:`ImageGroupDataset` are lists (query first, then
    its references). The groups are concatenated in order, every data
    sample's metainfo gets ``group_id`` (its group's position in the
    batch, ``0 .. B - 1``), and mmengine's ``pseudo_collate`` collates the
    flat list, so the data preprocessor sees an ordinary batch of all
    images. A batch of plain items (not lists) is collated exactly as
    ``pseudo_collate`` does.

    Registered in mmengine's ``FUNCTIONS`` (mmseg has no such registry),
    which ``Runner.build_dataloader`` reads:
    ``collate_fn=dict(type='group_collate')``.

    Args:
        data_batch (Sequence): The dataset items of a batch.

    Returns:
        The collated batch (``inputs`` and ``data_samples``, flat).
    """
    is_group = [isinstance(item, (list, tuple)) for item in data_batch]
    if not any(is_group):
        return pseudo_collate(data_batch)
    if not all(is_group):
        raise TypeError('group_collate: a batch mixes image groups (lists) '
                        'and single items')
    flat = []
    for group_id, group in enumerate(data_batch):
        if not len(group):
            raise ValueError(f'group_collate: group {group_id} is empty')
        for item in group:
            _set_meta(item, group_id=group_id)
            flat.append(item)
    return pseudo_collate(flat)
