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

Both select from the image labels (``img_labels``) of the wrapped dataset's
data infos, keep the selected images in their original order and run the
wrapped dataset's pipeline.
"""
import copy
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.logging import print_log
from mmseg.registry import DATASETS

from .base_wsss import class_balanced_subset

__all__ = [
    'PerClassDrawDataset', 'ClassBalancedSubsetDataset', 'sample_per_class'
]


class _ImageSelectionDataset:
    """Base of the wrappers: a selection of the images of ``dataset``.

    Subclasses implement :meth:`_select`, which maps the image labels of all
    images to the kept indices (ascending) and per kept image the fields to
    add to its data info.

    Args:
        dataset (BaseDataset | dict): The dataset or its config; its data
            infos must carry ``img_labels`` (an mmwsss dataset with image
            labels, i.e. ``label_source`` other than ``'none'``).
        lazy_init (bool): Defer the selection until the first access, like
            mmengine's dataset wrappers. Defaults to False.
    """

    def __init__(self,
                 dataset: Union[BaseDataset, dict],
                 lazy_init: bool = False) -> None:
        if isinstance(dataset, dict):
            self.dataset = DATASETS.build(dataset)
        elif isinstance(dataset, BaseDataset):
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
        pipeline = self.dataset.pipeline
        if self.dataset.test_mode:
            data = pipeline(self.get_data_info(idx))
            if data is None:
                raise RuntimeError('the test pipeline returned None for '
                                   f'{self.get_data_info(idx)["img_path"]}')
            return data
        for _ in range(self.dataset.max_refetch + 1):
            data = pipeline(self.get_data_info(idx))
            if data is not None:
                return data
            idx = int(np.random.randint(0, len(self)))
        raise RuntimeError(
            f'{type(self).__name__}: the pipeline returned None '
            f'{self.dataset.max_refetch + 1} times in a row')

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
