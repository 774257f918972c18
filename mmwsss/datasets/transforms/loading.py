# Copyright (c) OpenMMLab. All rights reserved.
"""Mask loading that names the file it failed on."""
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

__all__ = ['LoadWSSSAnnotations']


@TRANSFORMS.register_module()
class LoadWSSSAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` with errors that name the mask file.

    mmseg decodes the mask bytes and calls ``.squeeze()`` on the result, so
    a missing, truncated or non-image mask file surfaces as a decoder
    exception or ``'NoneType' object has no attribute 'squeeze'`` without
    the path; in a pseudo-mask pass over thousands of images that leaves the
    user guessing. This subclass loads exactly as mmseg does and re-raises
    any failure as ``OSError`` naming ``seg_map_path``.

    Required Keys:

    - seg_map_path, reduce_zero_label, seg_fields

    Added Keys:

    - gt_seg_map (np.uint8)

    Args:
        **kwargs: Arguments of mmseg's ``LoadAnnotations``.
    """

    def _load_seg_map(self, results: dict) -> None:
        try:
            super()._load_seg_map(results)
        except Exception as e:  # decoders raise many exception types
            raise OSError(f"cannot read mask {results.get('seg_map_path')}: "
                          f'{type(e).__name__}: {e}') from e
