# Copyright (c) OpenMMLab. All rights reserved.
"""Luo & Yang (AAAI 2020): class patterns of lower-layer features."""
import os.path as osp
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.models.utils.cam_utils import normalize_cams
from mmwsss.models.utils.class_pattern import (class_pattern_mask,
                                               class_pattern_projections)
from mmwsss.utils.typing_utils import (ConfigType, OptConfigType,
                                       OptMultiConfig, OptSampleList,
                                       SampleList)
from .cam_segmentor import CAMSegmentor

__all__ = ['ClassPatternSegmentor', 'load_class_patterns']

_DEFAULT_TEST_CFG = dict(
    class_patterns=None,
    scales=(1.0, ),
    flip=False,
    labels='gt',
    score_thr=0.5,
    margin=0.0,
    ignore_index=255,
    cam_sign=True,
    bg=dict(type='threshold', thr=0.0, output='model'))


class _FeatureReady(Exception):
    """Raised by the capture hook to stop a forward pass early."""


def load_class_patterns(path: str) -> Dict:
    """Read a class-pattern file written by ``ClassPatternMetric``.

    Args:
        path (str): The ``.pth`` file.

    Returns:
        dict: With at least ``mean`` ``(C, d)``, ``pattern`` ``(C, d)`` and
        ``meta`` (``feature_layer``, ``classes`` ...).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'class-pattern file {path} does not exist; make it with '
            'tools/extract_class_patterns.py (or the pipeline stage '
            '`class_patterns`)')
    data = torch.load(path, map_location='cpu')
    missing = [k for k in ('mean', 'pattern', 'meta') if k not in data]
    if missing:
        raise KeyError(f'class-pattern file {path} lacks {missing}')
    return data


@MODELS.register_module()
class ClassPatternSegmentor(CAMSegmentor):
    """Pseudo masks from class patterns of a classifier's lower layer.

    The saliency-free method of Luo & Yang, "Learning Saliency-Free Model
    with Generic Features for Weakly-Supervised Semantic Segmentation"
    (AAAI 2020). The network is the image classifier of
    :class:`~mmwsss.models.CAMSegmentor` (same backbone and ``cam_head``, so
    a CAM checkpoint loads as is, and ``tools/train.py`` trains it the same
    way); what changes is prediction, which reads the features of one
    module, ``feature_layer`` (the paper compares the three blocks of
    ResNet-101's last stage, ``backbone.layer4.0/1/2``, its C4_1/C4_2/C4_3),
    captured with a forward hook, in one of two modes:

    - **pattern pass** (``test_cfg.class_patterns=None``): every predicted
      sample carries ``features`` ``(d, h, w)`` (the layer's output without
      the padded border), ``pattern_cams`` ``(L, h, w)`` (its classes'
      rectified single-scale CAMs resized to the features, for the sign
      rule) and ``cam_labels``; :class:`~mmwsss.evaluation.ClassPatternMetric`
      accumulates them into per-class means and leading eigenvectors and
      saves the class-pattern file
      (``tools/extract_class_patterns.py``);
    - **mask estimation** (``test_cfg.class_patterns=<file>``, stage 2):
      the projections ``q_c = (t_u - mean_c)^T xi_c`` (Eq. 3) of the
      image's classes are upsampled bilinearly to the image (averaged over
      ``scales`` and flips when there are several), and Algorithm 1 gives
      the mask: no positive ``q_c`` -> background, one -> that class,
      several -> ``ignore_index``. The sample carries ``pred_sem_seg`` (that
      mask), ``cams`` (``relu(q_c)`` max-normalised, so that
      :class:`~mmwsss.evaluation.PseudoMaskMetric` can also sweep the
      decision boundary above 0) and ``cam_labels``, and its rule is
      ``dict(type='threshold', thr=0, output='model')``: the metric scores
      and writes the model's own mask (the dense CRF of the paper, on
      single-class images only, is the metric's
      ``crf_images='single_class'``).

    When the CAMs are not needed (mask estimation), the forward pass stops
    at ``feature_layer``, so lower layers are cheaper.

    Args:
        backbone (dict): Backbone config.
        cam_head (dict): :class:`~mmwsss.models.CAMHead` config.
        feature_layer (str): Dotted name of the module whose output are the
            generic features, relative to this model, e.g.
            ``'backbone.layer4.0'``. Defaults to 'backbone.layer4.0'
            (C4_1, the paper's best layer).
        neck (dict, optional): Neck config. Defaults to None.
        data_preprocessor (dict, optional): Defaults to None.
        train_cfg (dict, optional): Unused.
        test_cfg (dict, optional): Merged over the defaults:

            - ``class_patterns`` (str, optional): the class-pattern file;
              None selects the pattern pass.
            - ``scales`` (tuple[float]): default ``(1.0, )`` (the paper
              uses one scale).
            - ``flip`` (bool): default False.
            - ``labels`` (str): ``'gt'`` (image-level labels) or ``'pred'``.
            - ``margin`` (float): decision boundary of Algorithm 1 on
              ``q_c``, default 0.0 (the paper: the origin).
            - ``ignore_index`` (int): label of uncertain pixels, default 255.
            - ``cam_sign`` (bool): output ``pattern_cams`` in the pattern
              pass (needs the full forward pass). Default True.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 backbone: ConfigType,
                 cam_head: ConfigType,
                 feature_layer: str = 'backbone.layer4.0',
                 neck: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        cfg = dict(_DEFAULT_TEST_CFG)
        cfg.update(test_cfg or {})
        super().__init__(
            backbone=backbone,
            cam_head=cam_head,
            neck=neck,
            data_preprocessor=data_preprocessor,
            train_cfg=train_cfg,
            test_cfg=cfg,
            init_cfg=init_cfg)
        try:
            module = self.get_submodule(feature_layer)
        except AttributeError as e:
            names = [n for n, _ in self.named_modules() if n.count('.') <= 2]
            raise ValueError(
                f'feature_layer {feature_layer!r} is not a module of the '
                f'model; modules include: {", ".join(names[:40])}') from e
        self.feature_layer = feature_layer
        self._captured: Optional[Tensor] = None
        self._capturing = False
        self._stop_early = False
        module.register_forward_hook(self._capture)
        self._patterns: Optional[Dict] = None
        self._patterns_path: Optional[str] = None

    # ------------------------------------------------------------------
    def _capture(self, module, args, output) -> None:
        if not self._capturing:  # training, or a plain forward
            return
        if isinstance(output, (tuple, list)):
            output = output[0]
        self._captured = output
        if self._stop_early:
            raise _FeatureReady

    def layer_features(self, inputs: Tensor, with_cams: bool = False):
        """Features of ``feature_layer`` (and the raw head output).

        Args:
            inputs (Tensor): ``(B, 3, H, W)`` preprocessed images.
            with_cams (bool): Run the whole network and also return the
                head output (CAMs). Defaults to False (stop at the layer).

        Returns:
            tuple: ``(features (B, d, h, w), head output or None)``.
        """
        self._captured = None
        self._capturing = True
        self._stop_early = not with_cams
        head_out = None
        try:
            head_out = self._forward(inputs)
        except _FeatureReady:
            pass
        finally:
            self._capturing = False
            self._stop_early = False
        if self._captured is None:
            raise RuntimeError(
                f'feature_layer {self.feature_layer!r} was not run by the '
                'forward pass (is it used by the backbone?)')
        feats, self._captured = self._captured, None
        return feats, head_out

    @staticmethod
    def _valid_size(meta: dict, padded, size) -> tuple:
        """Feature cells covering the unpadded image."""
        img_h, img_w = meta.get('img_shape', padded)[:2]
        h = min(size[0], -(-img_h * size[0] // padded[0]))
        w = min(size[1], -(-img_w * size[1] // padded[1]))
        return h, w

    def _patterns_for(self, device) -> Dict:
        path = self.test_cfg['class_patterns']
        if self._patterns is None or self._patterns_path != path:
            data = load_class_patterns(path)
            layer = data['meta'].get('feature_layer')
            if layer is not None and layer != self.feature_layer:
                raise ValueError(
                    f'class-pattern file {path} was made from layer '
                    f'{layer!r}, but this model reads {self.feature_layer!r}')
            num_fg = self.cam_head.num_classes
            if data['pattern'].shape[0] != num_fg:
                raise ValueError(
                    f'class-pattern file {path} has '
                    f'{data["pattern"].shape[0]} classes, the model '
                    f'{num_fg}')
            self._patterns = data
            self._patterns_path = path
        data = self._patterns
        return dict(
            mean=data['mean'].to(device=device, dtype=torch.float32),
            pattern=data['pattern'].to(device=device, dtype=torch.float32))

    # ------------------------------------------------------------------
    @torch.no_grad()
    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Pattern-pass outputs or Algorithm 1 masks; see the class doc."""
        if data_samples is None:
            data_samples = self.default_samples(inputs)
        if self.test_cfg['class_patterns'] is None:
            return self._predict_pattern_pass(inputs, data_samples)
        return self._predict_masks(inputs, data_samples)

    def _predict_pattern_pass(self, inputs: Tensor,
                              data_samples: SampleList) -> SampleList:
        with_cams = bool(self.test_cfg['cam_sign'])
        feats, head_out = self.layer_features(inputs, with_cams=with_cams)
        logits = None if head_out is None else \
            self.cam_head.image_logits(head_out)
        if self.test_cfg['labels'] == 'pred' and logits is None:
            logits = self.cam_head.image_logits(self._forward(inputs))
        labels = self._select_labels(
            data_samples, None if logits is None else torch.sigmoid(logits))
        padded = inputs.shape[2:]
        for i, ds in enumerate(data_samples):
            h, w = self._valid_size(ds.metainfo, padded, feats.shape[2:])
            lbl = labels[i].to(torch.int64)
            out = dict(features=feats[i, :, :h, :w], cam_labels=lbl)
            if logits is not None:  # image-level scores, e.g. for mAP
                out['pred_score'] = torch.sigmoid(logits[i])
            if head_out is not None:
                cams = torch.relu(
                    self.cam_head.localization_maps(head_out[i:i + 1]))
                # the CAMs cover the same padded input: resize, then crop
                cams = F.interpolate(
                    cams[:, lbl - 1], feats.shape[2:], mode='bilinear',
                    align_corners=False)[0, :, :h, :w]
                out['pattern_cams'] = cams
            ds.set_data(out)
            ds.set_metainfo(dict(feature_layer=self.feature_layer))
        return data_samples

    def _predict_masks(self, inputs: Tensor,
                       data_samples: SampleList) -> SampleList:
        pats = self._patterns_for(inputs.device)
        batch, _, height, width = inputs.shape
        pred_score = None
        if self.test_cfg['labels'] == 'pred':
            # labels from one full single-scale pass; the projections below
            # stop at feature_layer
            pred_score = torch.sigmoid(
                self.cam_head.image_logits(self._forward(inputs)))
        labels = self._select_labels(data_samples, pred_score)
        scales = self.test_cfg['scales']
        flip = self.test_cfg['flip']
        proj: List[Optional[Tensor]] = [None] * batch
        for scale in scales:
            x = inputs if scale == 1.0 else F.interpolate(
                inputs,
                scale_factor=scale,
                mode='bilinear',
                align_corners=False,
                recompute_scale_factor=False)
            if flip:
                x = torch.cat([x, x.flip(-1)], dim=0)
            feats, _ = self.layer_features(x)
            for i in range(batch):
                lbl = labels[i]
                if not len(lbl):  # background-only image
                    proj[i] = inputs.new_zeros((0, height, width))
                    continue
                views = [feats[i]] + ([feats[batch + i]] if flip else [])
                for v, f in enumerate(views):
                    q = class_pattern_projections(f, pats['mean'][lbl - 1],
                                                  pats['pattern'][lbl - 1])
                    q = F.interpolate(
                        q[None], (height, width),
                        mode='bilinear',
                        align_corners=False)[0]
                    if v == 1:
                        q = q.flip(-1)
                    proj[i] = q if proj[i] is None else proj[i] + q
        views = len(scales) * (2 if flip else 1)
        for i, ds in enumerate(data_samples):
            q = self.to_original_size(proj[i] / views, ds.metainfo)
            lbl = labels[i].to(torch.int64)
            mask = class_pattern_mask(q, lbl, self.test_cfg['ignore_index'],
                                      self.test_cfg['margin'])
            out = dict(
                projections=q,
                cams=normalize_cams(q - self.test_cfg['margin']),
                cam_labels=lbl,
                pred_sem_seg=PixelData(data=mask[None]))
            if pred_score is not None:
                out['pred_score'] = pred_score[i]
            ds.set_data(out)
            ds.set_metainfo(
                dict(
                    cam_bg_rule=dict(self.test_cfg['bg']),
                    feature_layer=self.feature_layer))
        return data_samples
