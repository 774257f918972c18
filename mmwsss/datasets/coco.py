# Copyright (c) OpenMMLab. All rights reserved.
"""MS COCO 2014 as 81-class semantic segmentation with image labels."""
from mmseg.registry import DATASETS

from .base_wsss import BaseWSSSDataset
from .coco_utils import COCO_CLASSES, COCO_PALETTE

__all__ = ['WSSSCOCODataset']


@DATASETS.register_module()
class WSSSCOCODataset(BaseWSSSDataset):
    """MS COCO 2014 for weakly supervised segmentation (81 classes).

    The protocol of EPS and IRN-on-COCO: background plus the 80 thing
    categories (category ids in increasing order mapped to 1..80), images of
    ``train2014`` (82,081 after removing images without annotations in most
    works; the list is the user's) and ``val2014``. mmseg only ships
    COCO-Stuff, so the label PNGs are made once from the instance
    annotations with ``tools/dataset_converters/coco2014_semantic.py``,
    which also writes the image labels. Expected layout under
    ``data_root``::

        train2014/COCO_train2014_<id>.jpg, val2014/...
        SegmentationClass81/{train2014,val2014}/<stem>.png
        ImageSets/{train2014,val2014}.txt
        cls_labels_{train2014,val2014}.npy      # {stem: float32[80]}

    Args:
        ann_file (str): Split file, e.g. ``'ImageSets/train2014.txt'``.
        cls_label_file (str, optional): Image-label file. Defaults to None,
            i.e. derived from the masks unless given.
        **kwargs: See :class:`~mmwsss.datasets.BaseWSSSDataset`.
    """
    METAINFO = dict(classes=COCO_CLASSES, palette=COCO_PALETTE)

    def __init__(self,
                 ann_file: str,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(
            ann_file=ann_file,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            **kwargs)
