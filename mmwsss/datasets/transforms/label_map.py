# Copyright (c) OpenMMLab. All rights reserved.
"""Load an extra per-image label map (e.g. a previous round's pseudo
mask)."""
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmseg.registry import TRANSFORMS

__all__ = ['LoadLabelMap']


@TRANSFORMS.register_module()
class LoadLabelMap(BaseTransform):
    """Load a label map that is not the ground truth.

    mmseg's ``LoadAnnotations`` reads ``seg_map_path`` into ``gt_seg_map``
    and registers it in ``seg_fields``, so that geometric transforms resize
    and flip it with the image. A label map that a model should see at the
    original image size, such as the previous pseudo masks that a
    :class:`~mmwsss.models.RelabelSegmentor` fills, is read here from
    ``results['<key>_path']`` (a dataset's ``data_prefix.<key>_path``
    folder, see :class:`~mmwsss.datasets.BaseWSSSDataset`) into
    ``results[key]``, decoded as ``LoadAnnotations`` decodes masks (raw
    indices of a palette or grey PNG), and is not added to ``seg_fields``.
    ``PackWSSSInputs(pixel_keys=(key, ))`` packs it.

    Required Keys:

    - ``<key>_path``

    Added Keys:

    - ``<key>`` (np.uint8, ``(H, W)``)

    Args:
        key (str): The name of the map. Defaults to 'prev_mask'.
        imdecode_backend (str): Defaults to 'pillow' (as mmseg's masks).
        backend_args (dict, optional): File backend arguments. Defaults to
            None.
    """

    def __init__(self,
                 key: str = 'prev_mask',
                 imdecode_backend: str = 'pillow',
                 backend_args=None) -> None:
        self.key = key
        self.imdecode_backend = imdecode_backend
        self.backend_args = None if backend_args is None else \
            dict(backend_args)

    def transform(self, results: dict) -> dict:
        """Read ``results['<key>_path']`` into ``results[key]``."""
        path_key = f'{self.key}_path'
        if path_key not in results:
            raise KeyError(
                f'LoadLabelMap: no {path_key!r} for '
                f"{results.get('img_path', '<unknown image>')}; set the "
                f"dataset's data_prefix.{path_key} to the folder of the maps")
        path = results[path_key]
        try:
            data = fileio.get(path, backend_args=self.backend_args)
            label = mmcv.imfrombytes(
                data, flag='unchanged',
                backend=self.imdecode_backend).squeeze().astype(np.uint8)
        except Exception as e:  # decoders raise many exception types
            raise OSError(f'cannot read label map {path}: '
                          f'{type(e).__name__}: {e}') from e
        if label.ndim != 2:
            raise ValueError(f'label map {path} must be a single-channel '
                             f'label map (mode P or L), got shape '
                             f'{label.shape}')
        results[self.key] = label
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(key={self.key!r}, '
                f'imdecode_backend={self.imdecode_backend!r})')
