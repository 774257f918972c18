# Copyright (c) OpenMMLab. All rights reserved.
"""The embedded default dataset: synthetic images in VOC layout."""
import os.path as osp
from typing import Optional

from mmseg.registry import DATASETS

from .base_wsss import BaseWSSSDataset
from .synthetic import (SYNTHETIC_CLASSES, SYNTHETIC_PALETTE,
                        generate_synthetic_wsss)

__all__ = ['SyntheticWSSSDataset']


@DATASETS.register_module()
class SyntheticWSSSDataset(BaseWSSSDataset):
    """Synthetic WSSS images, generated on first use.

    The images (see :func:`~mmwsss.datasets.synthetic.generate_synthetic_wsss`)
    reproduce what WSSS methods fight on VOC: a discriminative part that
    dominates the classifier, context that co-occurs with a class, several
    objects and classes per image, varied scales and background-only
    images. They are written in VOC layout, so this class reads them
    exactly as :class:`~mmwsss.datasets.WSSSVOCDataset` reads VOC; image
    labels are derived from the masks. Saliency maps, scribbles, points and
    boxes for the same images are written alongside for later methods.

    When ``data_root`` has no ``meta.json`` and ``generate`` is set, the
    dataset is generated there first (atomically; concurrent processes of a
    distributed job are safe), so configs that use it run on a fresh clone.

    Args:
        ann_file (str): Split file, e.g. ``'ImageSets/Segmentation/train.txt'``.
        generate (dict, optional): Arguments of ``generate_synthetic_wsss``
            (``num_train``, ``num_val``, ``image_size``, ``seed``) used when
            the data is missing. Defaults to ``dict()`` (the generator's
            defaults). None disables generation.
        **kwargs: See :class:`~mmwsss.datasets.BaseWSSSDataset`.
    """
    METAINFO = dict(classes=SYNTHETIC_CLASSES, palette=SYNTHETIC_PALETTE)

    def __init__(self,
                 ann_file: str = 'ImageSets/Segmentation/train.txt',
                 generate: Optional[dict] = dict(),
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 label_source: str = 'mask',
                 **kwargs) -> None:
        data_root = kwargs.get('data_root')
        if generate is not None and data_root and \
                not osp.isfile(osp.join(data_root, 'meta.json')):
            generate_synthetic_wsss(data_root, **generate)
        super().__init__(
            ann_file=ann_file,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            label_source=label_source,
            **kwargs)
