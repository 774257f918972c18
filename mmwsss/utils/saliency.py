# Copyright (c) OpenMMLab. All rights reserved.
"""Unsupervised (training-free) salient object detection.

EPS (`Lee et al., CVPR 2021 <https://arxiv.org/abs/2105.08965>`_) needs a
saliency map per training image. The usual maps come from *supervised*
detectors (PFAN, PoolNet, DSS) trained on pixel-labelled saliency data sets;
where neither such maps nor network weights are available, the classic
detectors below give a stand-in that uses no learning and no labels at all.
They are UNSUPERVISED: their maps are hand-crafted image statistics, much
weaker than a trained detector's, and results obtained with them must be
reported as such.

Two methods:

* ``'ft'``: frequency-tuned saliency, Achanta et al., "Frequency-tuned
  Salient Region Detection", CVPR 2009: colour distance of each (slightly
  blurred) pixel to the mean colour of the image in CIE Lab.
* ``'mbd'``: minimum barrier saliency with the MB+ refinements, Zhang et
  al., "Minimum Barrier Salient Object Detection at 80 FPS", ICCV 2015:
  the minimum barrier distance of each pixel to the image border (a
  background prior), plus a border-contrast backgroundness cue and the
  paper's post-processing.

All maps are ``float32`` arrays in ``[0, 1]`` with the input's height and
width. :func:`save_saliency_png` writes one as the 8-bit grey PNG that
:class:`~mmwsss.datasets.transforms.LoadSaliencyMap` reads.
"""
import io
import time
from typing import Optional, Tuple

import cv2
import numpy as np
from PIL import Image, ImageOps

from .io import atomic_write_bytes

__all__ = [
    'rgb_to_lab', 'frequency_tuned_saliency', 'minimum_barrier_distance',
    'mbd_saliency', 'compute_saliency', 'save_saliency_png',
    'load_rgb_image', 'saliency_for_file', 'SALIENCY_METHODS'
]

#: Names accepted by :func:`compute_saliency`.
SALIENCY_METHODS = ('mbd', 'ft')


def _as_float_rgb(img_rgb: np.ndarray) -> np.ndarray:
    """Check an RGB image and return it as ``float32`` in ``[0, 1]``."""
    img = np.asarray(img_rgb)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError('expected an (H, W, 3) RGB image, got shape '
                         f'{img.shape}')
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f'empty image of shape {img.shape}')
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.
    if not np.issubdtype(img.dtype, np.floating):
        raise TypeError('expected a uint8 image or a float image in [0, 1], '
                        f'got dtype {img.dtype}')
    img = img.astype(np.float32)
    if not np.isfinite(img).all() or img.min() < 0 or img.max() > 1:
        raise ValueError('a float image must have finite values in [0, 1]')
    return img


def _normalize(sal: np.ndarray) -> np.ndarray:
    """Min-max normalise to ``[0, 1]``; a constant map becomes all zeros."""
    sal = sal.astype(np.float32)
    lo, hi = float(sal.min()), float(sal.max())
    if hi - lo <= 1e-12 * max(1., abs(hi)):
        return np.zeros_like(sal)
    return ((sal - lo) / (hi - lo)).astype(np.float32)


#: linear sRGB -> XYZ (D65), rows X, Y, Z, divided by the white point
_RGB2XYZ_D65 = np.array([[0.412453, 0.357580, 0.180423],
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]]) / np.array(
                             [[0.950456], [1.], [1.088754]])


def rgb_to_lab(img_rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB to CIE L*a*b* (D65 white), exactly by the formula.

    The sRGB transfer function is undone
    (:math:`c_{lin} = c / 12.92` for :math:`c \\le 0.04045`, else
    :math:`((c + 0.055) / 1.055)^{2.4}`), linear RGB is mapped to XYZ
    and divided by the D65 white point ``(0.950456, 1, 1.088754)``, and
    :math:`L = 116 f(Y) - 16`, :math:`a = 500 (f(X) - f(Y))`,
    :math:`b = 200 (f(Y) - f(Z))` with :math:`f(t) = t^{1/3}` above
    ``0.008856`` and :math:`7.787 t + 16/116` below (the constants of
    OpenCV's ``COLOR_RGB2Lab``, whose float path approximates the gamma
    with a spline and is off by up to about 0.1 in L).

    Args:
        img_rgb (np.ndarray): ``(H, W, 3)`` RGB image, ``uint8`` or float
            in ``[0, 1]``.

    Returns:
        np.ndarray: ``(H, W, 3)`` ``float32``; L in ``[0, 100]``, a and b
        roughly in ``[-128, 127]``.
    """
    c = _as_float_rgb(img_rgb).astype(np.float64)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055)**2.4)
    xyz = lin @ _RGB2XYZ_D65.T
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    lab = np.empty_like(xyz)
    lab[..., 0] = 116 * f[..., 1] - 16
    lab[..., 1] = 500 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return lab.astype(np.float32)


def frequency_tuned_saliency(img_rgb: np.ndarray,
                             blur_ksize: int = 5,
                             normalize: bool = True) -> np.ndarray:
    """Frequency-tuned saliency (unsupervised).

    Achanta, Hemami, Estrada and Susstrunk, "Frequency-tuned Salient Region
    Detection", CVPR 2009:

    .. math::

        S(x) = \\lVert I_\\mu - I_{\\omega hc}(x) \\rVert_2

    where :math:`I_\\mu` is the mean CIE Lab vector of the image and
    :math:`I_{\\omega hc}` the Lab image blurred with a small separable
    binomial (Gaussian) kernel (``5 x 5``, ``[1, 4, 6, 4, 1] / 16``, in the
    paper) that removes the highest frequencies (noise, texture).

    Args:
        img_rgb (np.ndarray): ``(H, W, 3)`` RGB image, ``uint8`` or float
            in ``[0, 1]``.
        blur_ksize (int): Odd side of the binomial kernel; 1 disables the
            blur. Defaults to 5.
        normalize (bool): Min-max normalise the map to ``[0, 1]`` (a
            constant map, e.g. of a uniform image, becomes all zeros). If
            False, return the raw Lab distances. Defaults to True.

    Returns:
        np.ndarray: ``(H, W)`` ``float32`` saliency map.
    """
    if blur_ksize < 1 or blur_ksize % 2 == 0:
        raise ValueError(f'blur_ksize must be odd and >= 1, got {blur_ksize}')
    lab = rgb_to_lab(img_rgb)
    mean = lab.reshape(-1, 3).mean(axis=0, dtype=np.float64)
    if blur_ksize > 1:
        # binomial coefficients C(k-1, i) / 2^(k-1)
        kernel = np.array([1.], dtype=np.float64)
        for _ in range(blur_ksize - 1):
            kernel = np.convolve(kernel, [0.5, 0.5])
        lab = cv2.sepFilter2D(
            lab, -1, kernel, kernel, borderType=cv2.BORDER_REFLECT_101)
    sal = np.sqrt(((lab - mean.astype(np.float32))**2).sum(axis=2))
    return _normalize(sal) if normalize else sal.astype(np.float32)


def minimum_barrier_distance(img: np.ndarray,
                             seeds: Optional[np.ndarray] = None,
                             num_iters: int = 3) -> np.ndarray:
    """Approximate minimum barrier distance (MBD) transform.

    For a path :math:`\\pi` of pixels the barrier is
    :math:`\\beta(\\pi) = \\max_i I(\\pi_i) - \\min_i I(\\pi_i)`; the MBD of
    ``x`` is the smallest barrier over the 4-connected paths from a seed to
    ``x`` (Strand et al., CVIU 2013). The FastMBD approximation of Zhang et
    al. (ICCV 2015, Alg. 1) keeps, per pixel, the distance :math:`D` and the
    highest/lowest values :math:`U, L` of its current path, and relaxes from
    a visited neighbour ``y``:

    .. math::

        \\beta_y(x) = \\max(U(y), I(x)) - \\min(L(y), I(x)),\\quad
        D(x) \\leftarrow \\min(D(x), \\beta_y(x))

    (updating :math:`U, L` with the path when it wins), in alternating
    raster and inverse-raster passes. Here each pass is split into
    directional sweeps (down, right, up, left), each one vectorised over a
    whole row or column; one iteration is the four sweeps. Every value is
    the barrier of an actual path, so the result is an upper bound of the
    exact MBD that decreases with ``num_iters``.

    Args:
        img (np.ndarray): ``(H, W)`` or ``(H, W, C)`` float image. With
            channels, the transform is computed on each channel separately
            (paths may differ between channels).
        seeds (np.ndarray, optional): ``(H, W)`` bool mask of seed pixels
            (distance 0). Defaults to None (the image border).
        num_iters (int): Number of four-sweep iterations. Defaults to 3.

    Returns:
        np.ndarray: ``float32`` distances, the shape of ``img``.
    """
    img = np.asarray(img, dtype=np.float32)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[..., None]
    if img.ndim != 3:
        raise ValueError(f'expected (H, W) or (H, W, C), got {img.shape}')
    h, w = img.shape[:2]
    if seeds is None:
        seeds = np.zeros((h, w), dtype=bool)
        seeds[0, :] = seeds[-1, :] = seeds[:, 0] = seeds[:, -1] = True
    seeds = np.asarray(seeds, dtype=bool)
    if seeds.shape != (h, w):
        raise ValueError(f'seeds of shape {seeds.shape} for an image of '
                         f'shape {img.shape}')
    if not seeds.any():
        raise ValueError('at least one seed pixel is needed')
    dist = np.full(img.shape, np.inf, dtype=np.float32)
    dist[seeds] = 0
    # an unreached pixel has the path (-inf, inf): nothing relaxes from it
    upper = np.where(seeds[..., None], img, np.inf).astype(np.float32)
    lower = np.where(seeds[..., None], img, -np.inf).astype(np.float32)

    def relax(dst, src) -> None:
        val = img[dst]
        u = np.maximum(upper[src], val)
        low = np.minimum(lower[src], val)
        b = u - low
        better = b < dist[dst]
        dist[dst] = np.where(better, b, dist[dst])
        upper[dst] = np.where(better, u, upper[dst])
        lower[dst] = np.where(better, low, lower[dst])

    full = slice(None)
    for _ in range(num_iters):
        for i in range(1, h):
            relax((i, full), (i - 1, full))
        for j in range(1, w):
            relax((full, j), (full, j - 1))
        for i in range(h - 2, -1, -1):
            relax((i, full), (i + 1, full))
        for j in range(w - 2, -1, -1):
            relax((full, j), (full, j + 1))
    return dist[..., 0] if squeeze else dist


def _reconstruct(marker: np.ndarray, mask: np.ndarray,
                 dilate: bool) -> np.ndarray:
    """Grey-level morphological reconstruction by dilation (or erosion)."""
    kernel = np.ones((3, 3), np.uint8)
    if dilate:
        op, bound = cv2.dilate, np.minimum
    else:
        op, bound = cv2.erode, np.maximum
    cur = bound(marker, mask)
    while True:
        nxt = bound(op(cur, kernel), mask)
        if np.array_equal(nxt, cur):
            return cur
        cur = nxt


def _smooth_by_reconstruction(sal: np.ndarray, alpha: float) -> np.ndarray:
    """MB+ smoothing: opening then closing by reconstruction.

    The square structuring element has side
    :math:`\\delta = \\alpha \\sqrt{\\bar s}` (:math:`\\bar s` the mean
    saliency), as in Zhang et al. (ICCV 2015, Sec. 3.3).
    """
    delta = int(round(alpha * np.sqrt(max(float(sal.mean()), 0.))))
    if delta < 2:
        return sal
    kernel = np.ones((delta, delta), np.uint8)
    opened = _reconstruct(cv2.erode(sal, kernel), sal, dilate=True)
    return _reconstruct(cv2.dilate(opened, kernel), opened, dilate=False)


def _otsu_threshold(sal: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of a map in ``[0, 1]``."""
    hist, edges = np.histogram(sal, bins=bins, range=(0., 1.))
    hist = hist.astype(np.float64)
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers)
    with np.errstate(divide='ignore', invalid='ignore'):
        mu0 = m0 / w0
        mu1 = (m0[-1] - m0) / w1
        between = w0 * w1 * (mu0 - mu1)**2
    between[~np.isfinite(between)] = -1
    return float(edges[1:][int(np.argmax(between))])


def _border_backgroundness(lab: np.ndarray, border_ratio: float,
                           eps: float = 1e-3) -> np.ndarray:
    """MB+ backgroundness cue from the colour contrast to the image border.

    For each of the four border strips ``k`` (``border_ratio`` of the
    height or width thick), with mean colour :math:`\\bar x_k` and
    covariance :math:`Q_k`, the Mahalanobis distance
    :math:`U_k(x) = \\sqrt{(x - \\bar x_k)^T Q_k^{-1} (x - \\bar x_k)}` is
    max-normalised, and :math:`B = \\sum_k U_k - \\max_k U_k` (dropping the
    largest lets an object touch one side of the image).
    """
    h, w = lab.shape[:2]
    rh = max(1, int(round(border_ratio * h)))
    rw = max(1, int(round(border_ratio * w)))
    strips = (lab[:rh], lab[-rh:], lab[:, :rw], lab[:, -rw:])
    flat = lab.reshape(-1, 3).astype(np.float64)
    maps = []
    for strip in strips:
        px = strip.reshape(-1, 3).astype(np.float64)
        mean = px.mean(axis=0)
        cov = np.cov(px, rowvar=False) if len(px) > 1 else np.zeros((3, 3))
        inv = np.linalg.inv(cov + eps * np.eye(3))
        diff = flat - mean
        u = np.sqrt(np.maximum(np.einsum('ij,jk,ik->i', diff, inv, diff), 0))
        maps.append(u / u.max() if u.max() > 0 else u)
    maps = np.stack(maps)
    return (maps.sum(axis=0) - maps.max(axis=0)).reshape(h, w)


def mbd_saliency(img_rgb: np.ndarray,
                 max_side: int = 300,
                 num_iters: int = 3,
                 backgroundness: bool = True,
                 border_ratio: float = 0.1,
                 smooth_alpha: float = 50.,
                 center_bias: bool = True,
                 contrast_b: float = 10.) -> np.ndarray:
    """Minimum barrier saliency, MB+ variant (unsupervised).

    Zhang, Sclaroff, Lin, Shen, Price and Mech, "Minimum Barrier Salient
    Object Detection at 80 FPS", ICCV 2015. With the image border as the
    background seeds, the saliency of a pixel is its minimum barrier
    distance to the border (see :func:`minimum_barrier_distance`), summed
    over the three CIE Lab channels:
    :math:`S_{MB}(x) = \\sum_{c \\in \\{L, a, b\\}} d_{MB}(I_c; x)`. The MB+
    steps of the paper follow, each optional:

    1. backgroundness: :math:`S \\leftarrow \\hat S_{MB} + \\hat B` with the
       border-contrast map :math:`B` (hats: min-max normalised);
    2. smoothing by morphological reconstruction (opening then closing,
       square element of side :math:`\\alpha \\sqrt{\\bar S}`);
    3. centre bias, here the linear prior
       :math:`S(i, j) \\leftarrow S(i, j) (1 - r(i, j) / r_{max})`,
       :math:`r` the distance to the image centre and :math:`r_{max}` that
       of the corners;
    4. contrast enhancement with a sigmoid
       :math:`f(s) = 1 / (1 + e^{-b (s - \\tau)})`, :math:`\\tau` Otsu's
       threshold of the normalised map.

    The image is resized to ``max_side`` on its long side (as in the paper)
    and the map back to the input size (bilinear).

    Args:
        img_rgb (np.ndarray): ``(H, W, 3)`` RGB image, ``uint8`` or float
            in ``[0, 1]``.
        max_side (int): Long side the map is computed at; 0 keeps the input
            size. Defaults to 300.
        num_iters (int): Iterations of the MBD sweeps. Defaults to 3.
        backgroundness (bool): Add the border-contrast cue. Defaults to
            True.
        border_ratio (float): Thickness of the border strips of the
            backgroundness cue, as a fraction of the side. Defaults to 0.1.
        smooth_alpha (float): :math:`\\alpha` of the smoothing; 0 disables
            it. Defaults to 50.
        center_bias (bool): Apply the centre bias. Defaults to True.
        contrast_b (float): Sigmoid gain :math:`b`; 0 disables the contrast
            enhancement. Defaults to 10.

    Returns:
        np.ndarray: ``(H, W)`` ``float32`` saliency map in ``[0, 1]``.
    """
    img = _as_float_rgb(img_rgb)
    h0, w0 = img.shape[:2]
    scale = 1.
    if max_side and max(h0, w0) != max_side:
        scale = max_side / max(h0, w0)
        size = (max(1, round(w0 * scale)), max(1, round(h0 * scale)))
        img = cv2.resize(
            img,
            size,
            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        img = np.clip(img, 0, 1)
    lab = rgb_to_lab(img)
    h, w = lab.shape[:2]
    if min(h, w) < 3:
        return np.zeros((h0, w0), np.float32)
    sal = minimum_barrier_distance(lab, num_iters=num_iters).sum(axis=2)
    sal = _normalize(sal)
    if backgroundness:
        back = _normalize(_border_backgroundness(lab, border_ratio))
        sal = _normalize(sal + back)
    if smooth_alpha > 0:
        sal = _normalize(_smooth_by_reconstruction(sal, smooth_alpha))
    if center_bias:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cy, cx = (h - 1) / 2, (w - 1) / 2
        r = np.sqrt((yy - cy)**2 + (xx - cx)**2)
        sal = _normalize(sal * (1 - r / np.sqrt(cy**2 + cx**2)))
    if contrast_b > 0 and sal.max() > 0:
        tau = _otsu_threshold(sal)
        sal = _normalize(1 / (1 + np.exp(-contrast_b * (sal - tau))))
    if (h, w) != (h0, w0):
        sal = _normalize(
            cv2.resize(sal, (w0, h0), interpolation=cv2.INTER_LINEAR))
    return sal.astype(np.float32)


def compute_saliency(img_rgb: np.ndarray,
                     method: str = 'mbd',
                     **kwargs) -> np.ndarray:
    """Unsupervised saliency map of an RGB image.

    Args:
        img_rgb (np.ndarray): ``(H, W, 3)`` RGB image, ``uint8`` or float
            in ``[0, 1]``.
        method (str): ``'mbd'`` (:func:`mbd_saliency`, Zhang et al. ICCV
            2015) or ``'ft'`` (:func:`frequency_tuned_saliency`, Achanta et
            al. CVPR 2009). Defaults to 'mbd'.
        **kwargs: Parameters of the chosen function.

    Returns:
        np.ndarray: ``(H, W)`` ``float32`` map in ``[0, 1]``.
    """
    if method == 'mbd':
        return mbd_saliency(img_rgb, **kwargs)
    if method == 'ft':
        return frequency_tuned_saliency(img_rgb, **kwargs)
    raise ValueError(f'unknown saliency method {method!r}; choose one of '
                     f'{SALIENCY_METHODS}')


def save_saliency_png(path: str, sal: np.ndarray) -> None:
    """Save a saliency map as an 8-bit grey ('L') PNG atomically.

    Values are mapped with ``round(255 * s)``.

    Args:
        path (str): Destination ``.png`` file; its directory is created.
        sal (np.ndarray): ``(H, W)`` map with finite values in ``[0, 1]``.
    """
    sal = np.asarray(sal, dtype=np.float64)
    if sal.ndim != 2:
        raise ValueError(f'saliency map for {path} must be 2-D, got shape '
                         f'{sal.shape}')
    if sal.size and (not np.isfinite(sal).all() or sal.min() < -1e-6
                     or sal.max() > 1 + 1e-6):
        raise ValueError(f'saliency map for {path} must have finite values '
                         'in [0, 1]')
    img = np.clip(np.rint(sal * 255), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img, mode='L').save(buf, format='PNG')
    atomic_write_bytes(path, buf.getvalue())


def load_rgb_image(path: str) -> np.ndarray:
    """Read an image file as RGB ``uint8``.

    Pillow, with the EXIF orientation applied as mmcv's loaders do, so that
    a map has the size the training pipeline sees.

    Args:
        path (str): Image file.

    Returns:
        np.ndarray: ``(H, W, 3)`` ``uint8`` RGB image.

    Raises:
        OSError: The file is missing, truncated or not an image; the
            message names it.
    """
    try:
        with Image.open(path) as img:
            img.load()
            rgb = ImageOps.exif_transpose(img).convert('RGB')
        return np.asarray(rgb, dtype=np.uint8)
    except Exception as e:  # PIL raises OSError, ValueError, SyntaxError...
        raise OSError(f'cannot read image {path}: {type(e).__name__}: '
                      f'{e}') from e


def saliency_for_file(img_path: str,
                      out_path: str,
                      method: str = 'mbd',
                      **kwargs) -> float:
    """Compute the map of an image file and save it as a grey PNG.

    Args:
        img_path (str): Image file (see :func:`load_rgb_image`).
        out_path (str): Destination PNG (see :func:`save_saliency_png`).
        method (str): See :func:`compute_saliency`. Defaults to 'mbd'.
        **kwargs: Parameters of the method.

    Returns:
        float: Seconds spent in :func:`compute_saliency` (no file I/O).
    """
    img = load_rgb_image(img_path)
    start = time.perf_counter()
    sal = compute_saliency(img, method, **kwargs)
    seconds = time.perf_counter() - start
    save_saliency_png(out_path, sal)
    return seconds


def _saliency_job(job: Tuple[str, str, str, dict]) -> float:
    """:func:`saliency_for_file` on ``(img_path, out_path, method, params)``
    (a module-level function, so that worker pools can pickle it)."""
    img_path, out_path, method, params = job
    return saliency_for_file(img_path, out_path, method, **params)
