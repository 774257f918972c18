# Copyright (c) OpenMMLab. All rights reserved.
"""A dataset for a user's own images and an image-label file."""
import os
import os.path as osp
from typing import Dict, List, Optional

from mmseg.registry import DATASETS

from .base_wsss import BaseWSSSDataset

__all__ = ['WSSSFolderDataset']


@DATASETS.register_module()
class WSSSFolderDataset(BaseWSSSDataset):
    """Images in a folder plus an image-label file.

    The quickest way to run a WSSS method on your own data: put the images
    in one folder, write one line per image in a text file and name the
    classes in the config::

        # labels.txt: <image id> <class name or index> ...
        img_0001 dog person
        img_0002               # background only
        img_0003 3

    .. code:: python

        train_dataloader = dict(dataset=dict(
            type='WSSSFolderDataset', data_root='data/mine',
            data_prefix=dict(img_path='images'),
            cls_label_file='labels.txt',
            metainfo=dict(classes=('background', 'cat', 'dog', 'person'))))

    ``classes`` must start with the background class. Label files may also
    be JSON (``{id: [labels]}``) or a PSA-style ``cls_labels.npy``. Set
    ``data_prefix.seg_map_path`` to a mask folder to score pseudo masks;
    without ``ann_file`` every file of the image folder and its sub-folders
    ending in ``img_suffix`` is used, in sorted order; an image in a
    sub-folder has the id ``<sub-folder>/<name>`` (e.g. ``a/img_0001``),
    also in the label file. Images listed in the label file
    but absent from the folder are an error, as are images without labels.

    Args:
        cls_label_file (str): The label file. Defaults to 'labels.txt'.
        img_suffix (str): Defaults to '.jpg'.
        seg_map_suffix (str): Defaults to '.png'.
        **kwargs: See :class:`~mmwsss.datasets.BaseWSSSDataset`.
    """

    def __init__(self,
                 cls_label_file: str = 'labels.txt',
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 label_source: str = 'file',
                 **kwargs) -> None:
        super().__init__(
            cls_label_file=cls_label_file,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            label_source=label_source,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Check the classes meta, then load as the base class does."""
        classes = self.metainfo.get('classes')
        if not classes or len(classes) < 2:
            raise ValueError(
                'WSSSFolderDataset needs metainfo=dict(classes=(...)) with '
                'the background class first and at least one foreground '
                f'class, got {classes!r}')
        img_dir: Optional[str] = self.data_prefix.get('img_path')
        if not self.ann_file and not (img_dir and osp.isdir(img_dir)):
            raise FileNotFoundError(f'image folder not found: {img_dir}')
        if img_dir and osp.isdir(img_dir) and not self.ann_file:
            # sub-folders count: mmseg lists the folder recursively
            if not any(f.endswith(self.img_suffix)
                       for _, _, files in os.walk(img_dir) for f in files):
                raise FileNotFoundError(
                    f'no *{self.img_suffix} images in {img_dir}')
        return super().load_data_list()

    def _labels_from_file(self, data_list: List[dict], path: str) -> Dict:
        table = super()._labels_from_file(data_list, path)
        ids = {self._image_id(d) for d in data_list}
        extra = sorted(str(k) for k in table if str(k) not in ids)
        if extra:
            raise FileNotFoundError(
                f'image-label file {path} lists {len(extra)} image(s) that '
                f'are not in {self.data_prefix.get("img_path")}, e.g. '
                f'{extra[:5]}')
        return table
