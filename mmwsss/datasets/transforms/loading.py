# Copyright (c) OpenMMLab. All rights reserved.
"""Loading of masks, saliency maps and saved CAMs, with errors that name the
file they failed on."""
import hashlib
import io
import os
import os.path as osp
from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS
from PIL import Image

from mmwsss.utils.io import atomic_write_bytes

__all__ = [
    'LoadWSSSAnnotations', 'LoadSaliencyMap', 'LoadCAMs',
    'CAMsToConfidentMask'
]


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


@TRANSFORMS.register_module()
class LoadSaliencyMap(BaseTransform):
    """Load a saliency map and keep it aligned with the image.

    EPS (`Lee et al., CVPR 2021 <https://arxiv.org/abs/2105.08965>`_) uses
    the map of an off-the-shelf salient object detector (PFAN, PoolNet,
    DSS, the WSSS-BED collections ...) as pseudo-pixel supervision. Any
    folder of grey PNGs works: the dataset puts
    ``<data_prefix.saliency_path>/<image id><suffix>`` (suffix from the
    dataset's ``file_suffixes``, default ``.png``) into
    ``results['saliency_path']``. The map is stored as ``gt_saliency``,
    by default as float32 in [0, 1] (the byte value / 255, the target
    ``EPSHead`` reads), and appended to ``seg_fields``, so mmseg's geometric
    transforms (``Resize``/``RandomResize``, ``RandomCrop``,
    ``RandomFlip`` ...) move it exactly as the mask; resizing is
    nearest-neighbour, like masks, so it only copies values and scaling
    before or after it gives the same numbers. Put this transform before
    them. Pack it with ``PackWSSSInputs(pixel_keys=('gt_saliency', ),
    meta_keys=(..., 'saliency_valid'))`` (``data_sample.gt_saliency``,
    ``(1, H, W)``).

    A colour map is converted to grey by the decoder (PIL's ``'L'``, ITU-R
    601 luma, with the default ``'pillow'`` backend).
    A saliency map whose size differs from the image's is an error naming
    the file: a saliency collection for other image sizes is a mistake, not
    something to resize silently.

    Required Keys:

    - img, saliency_path

    Added Keys:

    - gt_saliency (np.float32 in [0, 1], or np.uint8 0..255 with
      ``unit_range=False``; H x W)
    - saliency_valid (bool): False when the fallback ``'ignore'`` was used
    - seg_fields (``'gt_saliency'`` appended)

    Args:
        fallback (str, optional): What a missing saliency file means:
            None (an error naming the file), ``'ignore'`` (an all-zero map
            flagged invalid: the saliency loss skips the image) or
            ``'zeros'`` (an all-zero map used as supervision, i.e. "nothing
            is salient"). A dataset lists ``'saliency_path'`` in its
            ``optional_files`` so that it does not fail on missing maps
            itself. Defaults to None.
        unit_range (bool): Store the map as float32 in [0, 1]
            (``np.float32(byte) / 255``) instead of the decoded uint8. Note
            that transforms which pad seg fields (``Pad``, ``RandomRotate``)
            fill them with ``seg_pad_val`` (255) in either case. Defaults
            to True.
        imdecode_backend (str): mmcv decoding backend. Defaults to 'pillow'.
        backend_args (dict, optional): mmengine file backend arguments.
            Defaults to None.
    """

    FALLBACKS = (None, 'ignore', 'zeros')

    def __init__(self,
                 fallback: Optional[str] = None,
                 unit_range: bool = True,
                 imdecode_backend: str = 'pillow',
                 backend_args: Optional[dict] = None) -> None:
        if fallback not in self.FALLBACKS:
            raise ValueError(f'LoadSaliencyMap: fallback must be one of '
                             f'{self.FALLBACKS}, got {fallback!r}')
        self.fallback = fallback
        self.unit_range = unit_range
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        """Load ``results['saliency_path']`` into ``gt_saliency``."""
        path = results.get('saliency_path')
        if path is None:
            raise KeyError(
                'LoadSaliencyMap: no "saliency_path" for '
                f"{results.get('img_path')}; set data_prefix.saliency_path "
                'of the dataset (an mmwsss BaseWSSSDataset)')
        height, width = results['img'].shape[:2]
        valid = True
        if not fileio.exists(path, backend_args=self.backend_args):
            if self.fallback is None:
                raise FileNotFoundError(
                    f'saliency map {path} (of {results.get("img_path")}) '
                    'does not exist; set LoadSaliencyMap(fallback=...) to '
                    "'ignore' or 'zeros' to train without it")
            sal = np.zeros((height, width), np.uint8)
            valid = self.fallback != 'ignore'
        else:
            try:
                # the decoder's grey conversion (PIL 'L' for a colour map)
                sal = mmcv.imfrombytes(
                    fileio.get(path, backend_args=self.backend_args),
                    flag='grayscale',
                    backend=self.imdecode_backend)
                if sal is None:
                    raise ValueError('not an image')
            except Exception as e:
                raise OSError(f'cannot read saliency map {path}: '
                              f'{type(e).__name__}: {e}') from e
            if sal.shape[:2] != (height, width):
                raise ValueError(
                    f'saliency map {path} is {sal.shape[1]}x{sal.shape[0]} '
                    f'but its image {results.get("img_path")} is '
                    f'{width}x{height}')
        if self.unit_range:
            sal = np.asarray(sal, dtype=np.float32) / 255
        results['gt_saliency'] = np.ascontiguousarray(sal)
        results['saliency_valid'] = valid
        results.setdefault('seg_fields', [])
        if 'gt_saliency' not in results['seg_fields']:
            results['seg_fields'].append('gt_saliency')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(fallback={self.fallback!r}, '
                f'unit_range={self.unit_range})')


@TRANSFORMS.register_module()
class LoadCAMs(BaseTransform):
    """Load saved class activation maps for a refiner.

    Reads ``results['cam_path']`` (set by a dataset with a
    ``data_prefix.cam_path`` folder and ``file_suffixes=dict(cam_path=
    '.npz')``), an ``.npz`` with ``cams`` (``(L, H, W)`` max-normalised
    maps of the image's classes) and ``labels`` (``(L,)`` segmentation
    class indices), as saved by the pseudo-mask stage of any CAM method
    (CAM, EPS ...). ``PackWSSSInputs(algorithm_keys=('cams',
    'cam_labels'))`` packs them as ``data_sample.cams`` and
    ``data_sample.cam_labels``. For training inputs, follow with
    :class:`CAMsToConfidentMask`.

    Required Keys:

    - img, cam_path

    Added Keys:

    - cams (np.float32, L x H x W), cam_labels (np.int64, L)

    Args:
        check_size (bool): Fail when the CAMs' size differs from the
            image's. Defaults to True.
    """

    def __init__(self, check_size: bool = True) -> None:
        self.check_size = check_size

    def transform(self, results: dict) -> dict:
        """Load ``results['cam_path']``."""
        path = results.get('cam_path')
        if path is None:
            raise KeyError(
                f"LoadCAMs: no \"cam_path\" for {results.get('img_path')}; "
                "set the dataset's data_prefix.cam_path (with "
                "file_suffixes=dict(cam_path='.npz'))")
        try:
            with np.load(path) as f:
                cams = f['cams'].astype(np.float32)
                labels = f['labels'].astype(np.int64)
        except Exception as e:
            raise OSError(f'cannot read CAMs {path}: {type(e).__name__}: '
                          f'{e}') from e
        if cams.ndim != 3 or cams.shape[0] != labels.shape[0]:
            raise ValueError(f'CAMs {path}: expected cams (L, H, W) and '
                             f'labels (L,), got {cams.shape} and '
                             f'{labels.shape}')
        if self.check_size and 'img' in results and \
                cams.shape[1:] != results['img'].shape[:2]:
            raise ValueError(
                f'CAMs {path} are {cams.shape[2]}x{cams.shape[1]} but the '
                f'image {results.get("img_path")} is '
                f'{results["img"].shape[1]}x{results["img"].shape[0]}')
        results['cams'] = cams
        results['cam_labels'] = labels
        return results


@TRANSFORMS.register_module()
class CAMsToConfidentMask(BaseTransform):
    """Confident pseudo mask from CAMs: sure foreground, sure background,
    and an uncertain band in between marked ``ignore_index``.

    The affinity labels of AffinityNet (PSA) and IRN come from two
    background levels: a pixel is background only where even a low
    background score loses, foreground only where a high one does, and
    unknown elsewhere (IRN ``step/cam_to_ir_label.py``: ``conf_fg_thres
    0.30``, ``conf_bg_thres 0.05``; PSA uses ``alpha`` 4 and 32). With
    ``m = max_k A_k``::

        label = argmax_k A_k   if m >= fg_thr
              = 0              if m <  bg_thr
              = ignore_index   otherwise

    By default (``crf=None``) no dense CRF is applied. With ``crf``
    (IRN: ``crf='irn'``, ``step/cam_to_ir_label.py``) each level is a hard
    label map smoothed by a dense CRF on the image before the two are
    combined::

        fg = CRF(argmax_k [fg_thr, A_1 .. A_L])   k = 0 the background
        bg = CRF(argmax_k [bg_thr, A_1 .. A_L])
        label = fg             where fg > 0
              = 0              where fg = 0 and bg = 0
              = ignore_index   otherwise

    The CRF is :class:`~mmwsss.models.DenseCRF`; IRN's
    (``crf_inference_label``) is the preset ``'irn'``: a label unary
    (``unary_from_labels``, ``gt_prob`` 0.7, ``zero_unsure=False``) over
    the ``L + 1`` labels of the image, Gaussian kernel ``sxy`` 3 ``compat``
    3, bilateral ``sxy`` 50 ``srgb`` 5 ``compat`` 10, 10 iterations. It runs
    on ``img`` (which must still be at the CAMs' size: put this transform
    right after loading); the BGR image of ``LoadImageFromFile`` is turned
    to RGB first (the bilateral kernel is isotropic in colour, so the order
    does not change the result). Without CRF the rule is the same with the
    CRF left out, i.e. the thresholds on ``m`` above.

    Masks of any method can be used instead as ``data_prefix.seg_map_path``
    (their ``ignore_index`` pixels are the uncertain ones). The mask
    replaces ``gt_seg_map`` and joins ``seg_fields``; ``cams`` are dropped
    (they are not geometrically transformed).

    Required Keys:

    - cams, cam_labels (from :class:`LoadCAMs`)
    - img (only with ``crf``)

    Added Keys:

    - gt_seg_map (np.uint8), seg_fields

    Args:
        fg_thr (float): Defaults to 0.30 (IRN).
        bg_thr (float): Defaults to 0.05 (IRN).
        ignore_index (int): Defaults to 255.
        crf (str | dict, optional): Dense CRF of the two label maps: a
            :class:`~mmwsss.models.DenseCRF` preset name (``'irn'``) or its
            keyword arguments (:func:`~mmwsss.models.build_dense_crf`).
            Defaults to None (no CRF).
        cache_dir (str, optional): Keep the CRF'd masks in this folder and
            read them back instead of solving the two CRFs again (IRN
            computes its seeds once, offline; here they would otherwise be
            recomputed for every image of every epoch, about 1 s per VOC
            image). A mask is stored under a name hashed from the CAM
            file's path, size and modification time and this transform's
            settings, so new CAMs or other settings never read a stale
            mask; written atomically (dataloader workers may share the
            folder). Only used with ``crf``. Defaults to None (no cache).
    """

    def __init__(self,
                 fg_thr: float = 0.30,
                 bg_thr: float = 0.05,
                 ignore_index: int = 255,
                 crf=None,
                 cache_dir: Optional[str] = None) -> None:
        if not 0 <= bg_thr <= fg_thr <= 1:
            raise ValueError('CAMsToConfidentMask needs 0 <= bg_thr <= '
                             f'fg_thr <= 1, got {bg_thr} and {fg_thr}')
        self.fg_thr = fg_thr
        self.bg_thr = bg_thr
        self.ignore_index = ignore_index
        from mmwsss.models.refiners.dense_crf import build_dense_crf
        self.crf = build_dense_crf(crf)
        self.cache_dir = cache_dir

    def transform(self, results: dict) -> dict:
        """Replace ``gt_seg_map`` by the confident mask."""
        cams = results.pop('cams')
        labels = results.pop('cam_labels')
        height, width = cams.shape[1:]
        if cams.shape[0] == 0:
            mask = np.zeros((height, width), np.uint8)
        elif self.crf is not None:
            mask = self._cached_crf_mask(results, cams, labels)
        else:
            peak = cams.max(axis=0)
            mask = labels[cams.argmax(axis=0)].astype(np.uint8)
            mask[peak < self.fg_thr] = self.ignore_index
            mask[peak < self.bg_thr] = 0
        results['gt_seg_map'] = mask
        results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in results['seg_fields']:
            results['seg_fields'].append('gt_seg_map')
        return results

    def _cache_file(self, results: dict) -> Optional[str]:
        """Where the mask of these CAMs is cached (None: no cache)."""
        path = results.get('cam_path')
        if self.cache_dir is None or path is None:
            return None
        stat = os.stat(path)
        key = '|'.join(
            map(str, (osp.abspath(path), stat.st_size, stat.st_mtime_ns,
                      self.fg_thr, self.bg_thr, self.ignore_index,
                      repr(self.crf))))
        name = hashlib.sha1(key.encode()).hexdigest()[:24]
        return osp.join(self.cache_dir, name + '.png')

    def _cached_crf_mask(self, results: dict, cams: np.ndarray,
                         labels: np.ndarray) -> np.ndarray:
        """:meth:`_crf_mask`, read from / written to ``cache_dir``."""
        cache = self._cache_file(results)
        if cache is not None and osp.isfile(cache):
            mask = np.asarray(Image.open(cache))
            if mask.shape == cams.shape[1:]:
                return mask.astype(np.uint8)
        mask = self._crf_mask(results, cams, labels)
        if cache is not None:
            buf = io.BytesIO()
            Image.fromarray(mask, mode='L').save(buf, format='PNG')
            atomic_write_bytes(cache, buf.getvalue())
        return mask

    def _crf_mask(self, results: dict, cams: np.ndarray,
                  labels: np.ndarray) -> np.ndarray:
        """IRN's confident mask: the two CRF'd levels combined."""
        img = results.get('img')
        if img is None or img.shape[:2] != cams.shape[1:]:
            raise ValueError(
                'CAMsToConfidentMask(crf=...) needs the image at the CAMs\' '
                f'size {cams.shape[1:]}, got '
                f'{None if img is None else img.shape[:2]} for '
                f"{results.get('img_path')}; put it right after loading")
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        rgb = np.ascontiguousarray(img[..., ::-1], dtype=np.uint8)
        keys = np.concatenate([[0], labels]).astype(np.uint8)
        levels = []
        for thr in (self.fg_thr, self.bg_thr):
            scores = np.concatenate(
                [np.full((1, ) + cams.shape[1:], thr, np.float32), cams])
            # only the argmax of the scores enters a label unary; any other
            # unary sees them as they are
            levels.append(self.crf.refine_labels(rgb, scores))
        fg, bg = levels
        mask = keys[fg]
        mask[fg == 0] = self.ignore_index
        mask[(fg == 0) & (bg == 0)] = 0
        return mask

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(fg_thr={self.fg_thr}, '
                f'bg_thr={self.bg_thr}, crf={self.crf!r}, '
                f'cache_dir={self.cache_dir!r})')
