# Copyright (c) OpenMMLab. All rights reserved.
"""Stage 1 and stage 2 of CAM-based WSSS as one mmseg segmentor."""
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.models.utils.cam_utils import check_bg_rule, normalize_cams
from mmwsss.models.utils.postprocess import (POSTPROCESS_CFG_DEFAULTS,
                                             POSTPROCESS_CFG_KINDS)
from mmwsss.utils.typing_utils import (ConfigType, OptConfigType,
                                       OptMultiConfig, OptSampleList,
                                       SampleList)
from .backbone_segmentor import BackboneSegmentor

__all__ = ['CAMSegmentor']

_DEFAULT_TEST_CFG = dict(
    scales=(1.0, 0.5, 1.5, 2.0),
    flip=True,
    labels='gt',
    score_thr=0.5,
    bg=dict(type='threshold', thr=0.15),
    **POSTPROCESS_CFG_DEFAULTS)


@MODELS.register_module()
class CAMSegmentor(BackboneSegmentor):
    """A multi-label classifier whose prediction is a CAM pseudo mask.

    Training (``mode='loss'``) is stage 1 of CAM-based weakly supervised
    segmentation: an image classifier trained from image-level labels with
    the :class:`~mmwsss.models.CAMHead`. Prediction (``mode='predict'``) is
    stage 2: class activation maps computed over several scales and their
    horizontal flips, restricted to the image's classes, max-normalised and
    turned into a label map with a background rule. Running mmseg's
    ``tools/test.py`` with this model on the train split therefore writes
    and scores pseudo masks (see :class:`~mmwsss.evaluation.PseudoMaskMetric`).

    .. code:: text

        predict(inputs, data_samples)
        ├── for s in scales:                      (+ flipped copy in batch)
        │   ├── extract_feat(resize(inputs, s))   backbone (+ neck)
        │   ├── cam_head(feat)                    M = W * f, (B, K, h, w)
        │   │                                     (EPSHead: softmax of K+1
        │   │                                     maps, background dropped)
        │   ├── logits += GAP(M)                  image-level scores
        │   └── cams += upsample(relu(M[labels]) + flip(relu(M'[labels])))
        ├── A = cams / (max cams + 1e-5)          normalize_cams
        └── postprocess_masks                     argmax([bg(A), A]), then
                                                  the optional dense CRF

    Multi-scale inference is done here rather than with mmseg's
    ``SegTTAModel`` because CAMs are summed as rectified scores before
    normalisation (IRN ``step/make_cam.py``), whereas ``SegTTAModel``
    averages softmax probabilities; doing it in one pass also lets the
    flip share the batch and restricts upsampling to the image's classes,
    which keeps the overhead over the bare backbone small.

    Each predicted data sample carries ``pred_score`` (sigmoid of the
    averaged logits, ``(K,)``), ``cams`` (``(L, H, W)`` normalised maps at
    the original image size), ``cam_labels`` (``(L,)`` segmentation class
    index of each map), ``pred_sem_seg`` (the pseudo mask: the background
    rule, then the dense CRF when ``test_cfg.crf`` is set; see
    :class:`~mmwsss.models.utils.PseudoMaskPostProcessor`), with ``crf``
    ``crf_sweep_preds`` and, in its metainfo, the ``cam_bg_rule`` used (and
    ``crf_sweep_rules``).

    Args:
        backbone (dict): Backbone config (mmseg ``ResNet``/``ResNetV1c``/
            ``ResNeXt`` or ``mmpretrain.X``).
        cam_head (dict): :class:`~mmwsss.models.CAMHead` config, or a
            subclass such as :class:`~mmwsss.models.EPSHead`.
        neck (dict, optional): Neck config. Defaults to None.
        data_preprocessor (dict, optional): Usually
            ``SegDataPreProcessor``. Defaults to None.
        train_cfg (dict, optional): Unused, kept for the mmseg interface
            (any key in it is an error).
        test_cfg (dict, optional): CAM inference settings, merged over the
            defaults (:attr:`default_test_cfg`); a key that is not one of
            them, or a value of the wrong kind (``flip='Flase'``), is an
            error naming it:

            - ``scales`` (tuple[float]): image scales, default
              ``(1.0, 0.5, 1.5, 2.0)`` (IRN/PSA ``make_cam``).
            - ``flip`` (bool): add horizontal flips, default True.
            - ``labels`` (str): classes to keep, ``'gt'`` (the image-level
              labels; the standard pseudo-mask protocol) or ``'pred'``
              (classes with ``sigmoid(score) > score_thr``).
            - ``score_thr`` (float): default 0.5.
            - ``bg`` (dict): background rule, default
              ``dict(type='threshold', thr=0.15)`` (IRN
              ``cam_eval_thres``); or ``dict(type='power', alpha=16)``
              (PSA). See :mod:`mmwsss.models.utils.cam_utils`.
            - ``crf`` (str | dict, optional): dense CRF of the pseudo
              masks, a :class:`~mmwsss.models.DenseCRF` preset (``'psa'``,
              ``'irn'``, ``'deeplab-v2'``) or config; default None.
            - ``crf_images`` (str): ``'all'`` (default) or
              ``'single_class'``: the images the CRF refines.
            - ``crf_sweep`` (Sequence[float]): background values whose
              CRF'd masks go to ``crf_sweep_preds`` (the metric's CRF
              column); default ``()``.
            - ``crf_workers`` (int): processes for the CRF problems of one
              image; default 1.
        init_cfg (dict, optional): Defaults to None.
    """

    #: Every ``test_cfg`` key and its default.
    default_test_cfg = _DEFAULT_TEST_CFG
    #: The kinds of the typed ``test_cfg`` values (see
    #: :func:`~mmwsss.models.utils.merge_checked_cfg`).
    test_cfg_kinds = dict(
        scales='numbers',
        flip='bool',
        labels='str',
        score_thr='number',
        **POSTPROCESS_CFG_KINDS)

    def __init__(self,
                 backbone: ConfigType,
                 cam_head: ConfigType,
                 neck: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.cam_head = MODELS.build(cam_head)
        name = type(self).__name__
        cfg = self.checked_cfgs(train_cfg, test_cfg)
        if cfg['labels'] not in ('gt', 'pred'):
            raise ValueError("test_cfg.labels must be 'gt' or 'pred', got "
                             f"{cfg['labels']!r}")
        if not cfg['scales']:
            raise ValueError('test_cfg.scales must not be empty')
        if any(s <= 0 for s in cfg['scales']):
            raise ValueError(f'{name} test_cfg.scales must be > 0, got '
                             f"{cfg['scales']!r}")
        check_bg_rule(cfg['bg'], f'{name} test_cfg.bg')

    @property
    def num_classes(self) -> int:
        """int: Segmentation classes, i.e. foreground classes + 1."""
        return self.cam_head.num_classes + 1

    # ------------------------------------------------------------------
    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        """Raw head output, e.g. class activation maps ``(B, K, h, w)``."""
        return self.cam_head(self.extract_feat(inputs))

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Multi-label classification losses (stage 1)."""
        # mmseg's preprocessor records the padded batch size only at test
        # time; heads with pixel targets (EPSHead) need it in training too
        for ds in data_samples:
            ds.set_metainfo(dict(batch_input_shape=tuple(inputs.shape[-2:])))
        return self.cam_head.loss(self.extract_feat(inputs), data_samples)

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Single-scale normalised CAMs of all classes at input size."""
        cams = F.interpolate(
            self.cam_head.localization_maps(self._forward(inputs)),
            size=inputs.shape[2:],
            mode='bilinear',
            align_corners=False)
        return normalize_cams(cams)

    # ------------------------------------------------------------------
    @staticmethod
    def default_samples(inputs: Tensor) -> SampleList:
        """Data samples for a bare ``predict(inputs)`` call."""
        from mmseg.structures import SegDataSample
        return [
            SegDataSample(
                metainfo=dict(
                    ori_shape=inputs.shape[2:], img_shape=inputs.shape[2:]))
            for _ in range(inputs.shape[0])
        ]

    @staticmethod
    def to_original_size(maps: Tensor, meta: dict) -> Tensor:
        """Per-class maps at input size back to the original image.

        Crops the padding (``img_shape``), undoes a test-pipeline flip and
        resizes bilinearly to ``ori_shape``.

        Args:
            maps (Tensor): ``(L, H, W)`` maps of the (padded) input.
            meta (dict): The sample's metainfo.

        Returns:
            Tensor: ``(L, ori_h, ori_w)``.
        """
        img_h, img_w = meta.get('img_shape', maps.shape[-2:])[:2]
        ori_h, ori_w = meta.get('ori_shape', (img_h, img_w))[:2]
        if not maps.shape[0]:
            return maps.new_zeros((0, ori_h, ori_w))
        maps = maps[:, :img_h, :img_w]
        if meta.get('flip', False):
            vertical = meta.get('flip_direction', 'horizontal') != 'horizontal'
            maps = maps.flip(-2 if vertical else -1)
        if (img_h, img_w) != (ori_h, ori_w):
            maps = F.interpolate(
                maps[None], (ori_h, ori_w), mode='bilinear',
                align_corners=False)[0]
        return maps

    def _select_labels(self, data_samples: SampleList,
                       scores: Tensor) -> List[Tensor]:
        if self.test_cfg['labels'] == 'pred':
            return [
                torch.nonzero(s > self.test_cfg['score_thr']).flatten() + 1
                for s in scores
            ]
        out = []
        for ds in data_samples:
            if 'gt_score' not in ds:
                raise KeyError(
                    "test_cfg.labels='gt' needs image-level labels "
                    '("gt_score", packed by PackWSSSInputs) in every sample; '
                    f"{ds.metainfo.get('img_path')} has none. Use "
                    "labels='pred' for images without labels.")
            out.append(torch.nonzero(ds.gt_score > 0.5).flatten() + 1)
        return out

    def _multiscale_cams(
            self, inputs: Tensor,
            labels_fn) -> Tuple[Tensor, List[Tensor], List[Tensor]]:
        """Sum rectified CAMs over scales and flips for the chosen labels."""
        batch, _, height, width = inputs.shape
        scales: Sequence[float] = self.test_cfg['scales']
        flip = self.test_cfg['flip']
        logits_sum = None
        per_scale = []
        for scale in scales:
            x = inputs if scale == 1.0 else F.interpolate(
                inputs,
                scale_factor=scale,
                mode='bilinear',
                align_corners=False,
                recompute_scale_factor=False)
            if flip:
                x = torch.cat([x, x.flip(-1)], dim=0)
            out = self._forward(x)
            logits = self.cam_head.image_logits(out)
            cams = self.cam_head.localization_maps(out)
            if flip:
                logits = logits.view(2, batch, -1).mean(0)
                cams = torch.relu(cams[:batch]) + \
                    torch.relu(cams[batch:]).flip(-1)
            else:
                cams = torch.relu(cams)
            logits_sum = logits if logits_sum is None else logits_sum + logits
            per_scale.append(cams)
        logits = logits_sum / len(scales)
        labels = labels_fn(logits)
        summed = []
        for i in range(batch):
            idx = labels[i] - 1
            acc = inputs.new_zeros((len(idx), height, width))
            if len(idx):
                for cams in per_scale:
                    acc += F.interpolate(
                        cams[i:i + 1, idx], (height, width),
                        mode='bilinear',
                        align_corners=False)[0]
            summed.append(acc)
        return logits, labels, summed

    @torch.no_grad()
    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """CAM pseudo masks (stage 2); see the class docstring."""
        if data_samples is None:
            data_samples = self.default_samples(inputs)

        def labels_fn(logits):
            return self._select_labels(data_samples, torch.sigmoid(logits))

        logits, labels, cams = self._multiscale_cams(inputs, labels_fn)
        rule = self.test_cfg['bg']
        for i, ds in enumerate(data_samples):
            cam = normalize_cams(self.to_original_size(cams[i], ds.metainfo))
            ds.set_data(
                dict(
                    pred_score=torch.sigmoid(logits[i]),
                    cams=cam,
                    cam_labels=labels[i].to(torch.int64)))
            ds.set_metainfo(dict(cam_bg_rule=dict(rule)))
        return self.postprocess_masks(data_samples)

    def postprocess_result(self, *args, **kwargs):  # pragma: no cover
        """Not used: :meth:`predict` builds its outputs itself."""
        raise NotImplementedError

