# Copyright (c) OpenMMLab. All rights reserved.
"""PASCAL VOC 2012 (+ SBD aug) with image-level labels."""
from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS

from .base_wsss import BaseWSSSDataset

__all__ = ['WSSSVOCDataset']


@DATASETS.register_module()
class WSSSVOCDataset(BaseWSSSDataset):
    """PASCAL VOC 2012 for weakly supervised segmentation.

    The WSSS protocol of PSA, IRN, SEAM, EPS and RPNet: train the classifier
    on ``train_aug`` (10,582 images of VOC 2012 train plus SBD), score
    pseudo masks on ``train`` (1,464), evaluate the final model on ``val``
    (1,449). Expected layout under ``data_root`` (``VOCdevkit/VOC2012``)::

        JPEGImages/<id>.jpg
        SegmentationClass/<id>.png        # official masks (train, val)
        SegmentationClassAug/<id>.png     # SBD-converted masks (train_aug)
        ImageSets/Segmentation/{train_aug,train,val}.txt
        cls_labels.npy                    # optional, PSA/IRN format

    Image labels are read from ``cls_labels.npy`` when present (its
    ``{id: float32[20]}`` dict, string or IRN-style integer ids) and are
    derived from the masks otherwise. Classes and palette are mmseg's
    :class:`~mmseg.datasets.PascalVOCDataset` ones.

    Args:
        ann_file (str): Split file, e.g.
            ``'ImageSets/Segmentation/train_aug.txt'``.
        cls_label_file (str, optional): Defaults to ``'cls_labels.npy'``.
        **kwargs: See :class:`~mmwsss.datasets.BaseWSSSDataset`.
    """
    METAINFO = PascalVOCDataset.METAINFO

    def __init__(self,
                 ann_file: str,
                 cls_label_file: str = 'cls_labels.npy',
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(
            ann_file=ann_file,
            cls_label_file=cls_label_file,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            **kwargs)
