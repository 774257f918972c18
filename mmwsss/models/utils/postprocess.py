# Copyright (c) OpenMMLab. All rights reserved.
"""Stage-2 post-processing: maps -> pseudo mask, optionally dense-CRF'd.

One place turns the normalised maps that a stage-2 model hands on
(``cams``, ``cam_labels``, the rule ``cam_bg_rule`` and an optional
``bg_score``) into the pseudo mask ``pred_sem_seg``, and one component runs
the dense CRF of Krähenbühl & Koltun (NeurIPS 2011) on a label map's scores
for every model that needs it (the stage-2 models and
:class:`~mmwsss.models.CRFSegTTAModel`):

.. code:: text

    PseudoMaskPostProcessor(sample)
    ├── mask = argmax([bg(A), A_1 .. A_L])       cams_to_label (rule, or
    │                                            the refiner's bg_score;
    │                                            output='model': the
    │                                            model's own mask)
    └── crf set (and the image selected by crf_images):
        DenseCRFStep(img_path, [P_out, P_r1 .. P_rS])
        ├── I = imread(img_path) at the map size
        ├── Q = DenseCRF(I, P)                   one per rule, in a pool
        └── argmax_c Q                           -> pred_sem_seg and
                                                    crf_sweep_preds
"""
import multiprocessing
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmengine.structures import PixelData
from torch import Tensor

from mmwsss.models.refiners.dense_crf import DenseCRF, build_dense_crf
from .cam_utils import cams_to_label, cams_to_probs, check_bg_rule

__all__ = [
    'DenseCRFStep', 'PseudoMaskPostProcessor', 'POSTPROCESS_CFG_DEFAULTS',
    'POSTPROCESS_CFG_KINDS', 'read_image_at'
]

#: The ``test_cfg`` keys of :class:`PseudoMaskPostProcessor` and their
#: defaults (no CRF).
POSTPROCESS_CFG_DEFAULTS: Dict = dict(
    crf=None, crf_images='all', crf_sweep=(), crf_workers=1)

#: The kinds of the typed ones (see
#: :func:`~mmwsss.models.utils.cfg_check.check_cfg_types`).
POSTPROCESS_CFG_KINDS: Dict = dict(
    crf_images='str', crf_sweep='numbers', crf_workers='int')

CRF_IMAGES = ('all', 'single_class')


def read_image_at(path: str,
                  size: Tuple[int, int],
                  resize: bool = True) -> np.ndarray:
    """The RGB image of ``path`` at a map's size, for the dense CRF.

    Args:
        path (str): The image file (a sample's ``img_path``).
        size (tuple[int, int]): ``(H, W)`` of the maps it goes with.
        resize (bool): Resize (bilinearly, ``mmcv.imresize``) an image of
            another size; False raises instead. Defaults to True.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB, C-contiguous.
    """
    image = mmcv.imread(path, channel_order='rgb')
    if image is None:
        raise FileNotFoundError(f'cannot read image {path}')
    size = tuple(int(s) for s in size)
    if image.shape[:2] != size:
        if not resize:
            raise ValueError(
                f'{path} is {image.shape[:2]} but the prediction is {size}; '
                'the CRF needs predictions at the original image size')
        image = mmcv.imresize(image, size[::-1])
    return np.ascontiguousarray(image)


def _rule_value(rule: Dict) -> Tuple[str, float]:
    """``(type, value)`` of a background rule."""
    key = 'thr' if rule['type'] == 'threshold' else 'alpha'
    return rule['type'], float(rule[key])


class DenseCRFStep:
    """Read the image at the map size, run the dense CRF, take the argmax.

    The one dense-CRF component of mmwsss: the pseudo-mask post-processor
    and :class:`~mmwsss.models.CRFSegTTAModel` both refine through it. The
    CRF problems of one image (e.g. one per background value of a sweep)
    run in a pool of ``workers`` processes (``spawn``, created on first
    use and kept for the next images); one problem, or ``workers=1``, runs
    in this process. Every problem gives the same labels either way.

    Args:
        crf (str | dict | DenseCRF): A :class:`~mmwsss.models.DenseCRF`
            preset name (``'psa'``, ``'irn'``, ``'deeplab-v2'``), its
            keyword arguments, or an instance.
        workers (int): Processes for the problems of one image. Defaults
            to 1.
    """

    def __init__(self,
                 crf: Union[str, Dict, DenseCRF],
                 workers: int = 1) -> None:
        self.crf: DenseCRF = build_dense_crf(crf)
        if self.crf is None:
            raise ValueError('DenseCRFStep needs a CRF, got None')
        if isinstance(workers, bool) or not isinstance(
                workers, (int, np.integer)) or workers < 1:
            raise ValueError(f'crf_workers must be an int >= 1, got '
                             f'{workers!r}')
        self.workers = int(workers)
        self._pool = None

    def __getstate__(self) -> Dict:
        state = dict(self.__dict__)
        state['_pool'] = None  # a pool does not travel
        return state

    def refine(self, image: np.ndarray,
               probs: Sequence[np.ndarray]) -> List[np.ndarray]:
        """``argmax_c CRF(image, P)_c`` of each ``(C, H, W)`` score map.

        Args:
            image (np.ndarray): ``(H, W, 3)`` uint8 RGB image.
            probs (Sequence[np.ndarray]): Class scores at the image size.

        Returns:
            list[np.ndarray]: ``(H, W)`` int64 channel indices.
        """
        probs = list(probs)
        if self.workers > 1 and len(probs) > 1:
            if self._pool is None:
                self._pool = multiprocessing.get_context('spawn').Pool(
                    self.workers)
            refined = self._pool.starmap(self.crf,
                                         [(image, p) for p in probs])
        else:
            refined = [self.crf(image, p) for p in probs]
        return [np.asarray(q).argmax(0) for q in refined]

    def __call__(self,
                 img_path: str,
                 probs: Sequence[np.ndarray],
                 resize: bool = True) -> List[np.ndarray]:
        """Read ``img_path`` at the maps' size and :meth:`refine`."""
        probs = list(probs)
        if not probs:
            return []
        image = read_image_at(img_path, np.shape(probs[0])[-2:], resize)
        return self.refine(image, probs)

    def close(self) -> None:
        """Stop the worker pool (a later call starts a new one)."""
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None


class PseudoMaskPostProcessor:
    """Turn a stage-2 model's maps into its pseudo mask (+ dense CRF).

    Built from the model's ``test_cfg`` (:meth:`from_test_cfg`), it
    completes each predicted :class:`~mmseg.structures.SegDataSample` that
    carries ``cams`` ``(L, H, W)`` (normalised maps of the image's classes,
    at the original image size), ``cam_labels`` ``(L, )``, metainfo
    ``cam_bg_rule`` and optionally ``bg_score`` ``(1, H, W)``:

    - ``pred_sem_seg`` ``(1, H, W)`` int64: the background rule on the maps
      (:func:`~mmwsss.models.utils.cams_to_label`; with a ``bg_score``, the
      argmax over it and the maps; with a rule of ``output='model'``, the
      model's own ``pred_sem_seg``, which must be set), then, with ``crf``,
      the dense CRF of the image on those scores (on the one-hot mask for
      ``output='model'``: uncertain pixels uniform, and they stay
      ``ignore_index``);
    - with ``crf``: ``crf_sweep_preds`` ``(S, H, W)`` int64, the CRF'd label
      maps of the rule family at the values of ``crf_sweep`` (on the maps,
      without ``bg_score``), and metainfo ``crf_sweep_rules`` (the S rule
      dicts, possibly none). :class:`~mmwsss.evaluation.PseudoMaskMetric`
      scores them as its CRF column; their presence tells it the CRF ran.

    Images that ``crf_images`` leaves out (``'single_class'``: all but the
    images with exactly one class, as Luo & Yang, AAAI 2020, who find that
    multi-class images "tend to be more cluttered") keep their masks, in
    ``crf_sweep_preds`` too. The maps are read on the CPU in float32, so a
    GPU run writes the masks of a CPU run.

    Args:
        crf (str | dict | DenseCRF, optional): Dense CRF preset name
            (``'psa'``, ``'irn'``, ``'deeplab-v2'``) or a
            :class:`~mmwsss.models.DenseCRF` config. Defaults to None.
        crf_images (str): ``'all'`` or ``'single_class'``. Defaults to
            'all'.
        crf_sweep (Sequence[float]): Background values (thresholds, or
            exponents for the power rule) of ``crf_sweep_preds``. Defaults
            to () (none).
        crf_workers (int): Processes for the CRF problems of one image.
            Defaults to 1.
        ignore_index (int): Label of the uncertain pixels of an
            ``output='model'`` mask. Defaults to 255.
    """

    def __init__(self,
                 crf: Union[None, str, Dict, DenseCRF] = None,
                 crf_images: str = 'all',
                 crf_sweep: Sequence[float] = (),
                 crf_workers: int = 1,
                 ignore_index: int = 255) -> None:
        if crf_images not in CRF_IMAGES:
            raise ValueError("test_cfg.crf_images must be 'all' or "
                             f"'single_class', got {crf_images!r}")
        self.crf_images = crf_images
        self.crf_sweep: Tuple[float, ...] = tuple(
            float(v) for v in (crf_sweep or ()))
        if isinstance(crf_workers, bool) or not isinstance(
                crf_workers, (int, np.integer)) or crf_workers < 1:
            raise ValueError('test_cfg.crf_workers must be an int >= 1, '
                             f'got {crf_workers!r}')
        self.step: Optional[DenseCRFStep] = None if crf is None else \
            DenseCRFStep(crf, int(crf_workers))
        self.ignore_index = int(ignore_index)

    @classmethod
    def from_test_cfg(cls, test_cfg: Dict) -> 'PseudoMaskPostProcessor':
        """Build from a model's ``test_cfg`` (keys of
        :data:`POSTPROCESS_CFG_DEFAULTS`, ``ignore_index``)."""
        kwargs = {
            k: test_cfg.get(k, v)
            for k, v in POSTPROCESS_CFG_DEFAULTS.items()
        }
        return cls(ignore_index=test_cfg.get('ignore_index', 255), **kwargs)

    @property
    def crf(self) -> Optional[DenseCRF]:
        """DenseCRF | None: The CRF, or None."""
        return None if self.step is None else self.step.crf

    # ------------------------------------------------------------------
    def sweep_rules(self, rule: Dict) -> List[Dict]:
        """The rules of ``crf_sweep`` in the family of ``rule``."""
        key = 'thr' if rule['type'] == 'threshold' else 'alpha'
        return [{'type': rule['type'], key: v} for v in self.crf_sweep]

    def _model_probs(self, mask: Tensor, lut: Tensor) -> Tuple[Tensor, Tensor]:
        """One-hot unary of a hard mask; uncertain pixels uniform."""
        probs = torch.zeros((len(lut), ) + tuple(mask.shape))
        for ch, cls in enumerate(lut.tolist()):
            probs[ch][mask == cls] = 1.0
        unsure = probs.sum(0) == 0
        probs[:, unsure] = 1.0 / len(lut)
        return probs, unsure

    def process(self, data_sample, with_crf: bool = True):
        """Set ``pred_sem_seg`` (and the CRF sweep) of one data sample.

        Args:
            data_sample (SegDataSample): A predicted sample (see the class
                docstring).
            with_crf (bool): Apply the CRF (when configured). Defaults to
                True.

        Returns:
            SegDataSample: The same sample.
        """
        meta = data_sample.metainfo
        if 'cams' not in data_sample or 'cam_bg_rule' not in meta:
            raise KeyError(
                'PseudoMaskPostProcessor needs "cams", "cam_labels" and the '
                'metainfo "cam_bg_rule"; the sample of '
                f"{meta.get('img_path')} lacks them")
        cams = data_sample.cams.detach().float().cpu()
        labels = data_sample.cam_labels.cpu().to(torch.int64)
        rule = check_bg_rule(dict(meta['cam_bg_rule']))
        bg = data_sample.get('bg_score')
        if bg is not None:
            bg = bg.detach().float().cpu().reshape((1, ) + cams.shape[1:])
        model_out = rule.get('output') == 'model'
        if model_out:
            if 'pred_sem_seg' not in data_sample:
                raise KeyError(
                    "a background rule with output='model' needs the "
                    "model's pred_sem_seg; the sample of "
                    f"{meta.get('img_path')} has none")
            out = data_sample.pred_sem_seg.data.cpu().to(torch.int64)
            out = out[0] if out.ndim == 3 else out
        else:
            out = cams_to_label(cams, labels, rule, bg)

        crf_on = with_crf and self.step is not None
        sweep = self.sweep_rules(rule) if crf_on else []
        use_crf = crf_on and (self.crf_images == 'all' or len(labels) == 1)
        sweep_preds: List[Tensor] = []
        if use_crf:
            lut = torch.cat([labels.new_zeros(1), labels])
            unsure = None
            # the output's problem first, then each sweep value's once
            # (the output's when it is the same rule on the same maps)
            if model_out:
                probs, unsure = self._model_probs(out, lut)
                problems = [probs.numpy()]
            else:
                problems = [cams_to_probs(cams, rule, bg).numpy()]
            same = None if model_out or bg is not None else _rule_value(rule)
            index = [
                0 if _rule_value(r) == same else None for r in sweep
            ]
            for i, r in enumerate(sweep):
                if index[i] is None:
                    index[i] = len(problems)
                    problems.append(cams_to_probs(cams, r).numpy())
            refined = self.step(meta['img_path'], problems)
            out = lut[torch.from_numpy(refined[0])]
            if unsure is not None:
                out[unsure] = self.ignore_index
            sweep_preds = [lut[torch.from_numpy(refined[i])] for i in index]
        elif crf_on:
            sweep_preds = [cams_to_label(cams, labels, r) for r in sweep]

        data_sample.set_data(dict(pred_sem_seg=PixelData(data=out[None])))
        if crf_on:
            stacked = torch.stack(sweep_preds) if sweep_preds else \
                torch.zeros((0, ) + tuple(out.shape), dtype=torch.int64)
            data_sample.set_data(dict(crf_sweep_preds=stacked))
            data_sample.set_metainfo(dict(crf_sweep_rules=sweep))
        return data_sample

    def __call__(self, data_samples: Sequence, with_crf: bool = True):
        """:meth:`process` every sample; returns ``data_samples``."""
        for ds in data_samples:
            self.process(ds, with_crf)
        return data_samples

    def close(self) -> None:
        """Stop the CRF worker pool, if any."""
        if self.step is not None:
            self.step.close()
