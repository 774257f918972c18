# Copyright (c) OpenMMLab. All rights reserved.
"""Loading of precomputed over-segmentations (region id maps)."""
from typing import Optional

from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmseg.registry import TRANSFORMS

from mmwsss.utils.oversegment import decode_region_png

__all__ = ['LoadRegionMap']


@TRANSFORMS.register_module()
class LoadRegionMap(BaseTransform):
    """Load a precomputed over-segmentation and keep it aligned.

    SPML (`Ke et al., ICLR 2021 <https://arxiv.org/abs/2105.00957>`_)
    intersects its k-means clusters with a low-level over-segmentation
    (HED-owt-ucm regions in the reference code, read as 8-bit ids) and
    uses it for the image-similarity relation: pixels of the same region
    attract each other (method notes 3.3 and 3.5). The maps are computed
    once, offline, into a folder (the reference's practice; see
    ``tools/dataset_converters/oversegment.py`` for felzenszwalb or SLIC
    regions) and read here from ``results['region_path']`` (a dataset's
    ``data_prefix.region_path``: ``<folder>/<image id>.png``).

    Ids are decoded by :func:`~mmwsss.utils.oversegment.decode_region_png`
    (16-bit grey, or RGB/RGBA for more ids) into an int32 map stored under
    ``key`` and appended to ``seg_fields``, so mmseg's ``Resize`` /
    ``RandomResize`` (nearest neighbour), ``RandomFlip``, ``RandomCrop`` and
    ``RandomRotate`` move it with the image and the weak label (see
    :mod:`mmwsss.datasets.transforms.weak_labels` for which transforms do
    not). Padding writes the seg pad value (255) into the map, which can be
    a real id: the pixels that are not part of the image are told by the
    weak label's 255, not by the region map. Pack it with
    ``PackWSSSInputs(pixel_keys=(key, ))``.

    A missing map is an error naming the expected path; a map of another
    size than the image is an error naming the file.

    Required Keys:

    - img (its size), region_path

    Added Keys:

    - ``key`` (np.int32, H x W), seg_fields

    Args:
        key (str): Result key of the map. Defaults to 'gt_region_map'.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
    """

    def __init__(self,
                 key: str = 'gt_region_map',
                 backend_args: Optional[dict] = None) -> None:
        self.key = key
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        """Read ``results['region_path']`` into ``results[key]``."""
        img_path = results.get('img_path', '<unknown image>')
        path = results.get('region_path')
        if path is None:
            raise KeyError(
                f'LoadRegionMap: no "region_path" for {img_path}; set the '
                "dataset's data_prefix.region_path to the folder of region "
                'maps (tools/dataset_converters/oversegment.py writes one)')
        if not fileio.exists(path, backend_args=self.backend_args):
            raise FileNotFoundError(
                f'region map {path} (of {img_path}) does not exist; '
                'compute the folder with tools/dataset_converters/'
                'oversegment.py')
        regions = decode_region_png(
            fileio.get(path, backend_args=self.backend_args), path)
        img = results.get('img')
        if img is not None and regions.shape != img.shape[:2]:
            raise ValueError(
                f'region map {path} is {regions.shape[1]}x'
                f'{regions.shape[0]} but its image {img_path} is '
                f'{img.shape[1]}x{img.shape[0]}')
        results[self.key] = regions
        results.setdefault('seg_fields', [])
        if self.key not in results['seg_fields']:
            results['seg_fields'].append(self.key)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(key={self.key!r})'
