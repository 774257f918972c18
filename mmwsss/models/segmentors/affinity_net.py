# Copyright (c) OpenMMLab. All rights reserved.
"""AffinityNet: pseudo-mask refinement by a learned random walk."""
from typing import List

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.models.utils.cam_utils import background_score, check_bg_rule
from mmwsss.models.utils.postprocess import (POSTPROCESS_CFG_DEFAULTS,
                                             POSTPROCESS_CFG_KINDS)
from mmwsss.models.utils.random_walk import affinity_pairs, random_walk
from mmwsss.utils.typing_utils import (ConfigType, OptConfigType,
                                       OptMultiConfig, OptSampleList,
                                       SampleList)
from .backbone_segmentor import BackboneSegmentor

__all__ = ['AffinityNet']

_DEFAULT_TEST_CFG = dict(
    radius=5,
    beta=8.0,
    num_iters=256,
    bg=dict(type='power', alpha=16),
    output_bg='propagated',
    sweep_bg=dict(type='threshold', thr=0.25),
    **POSTPROCESS_CFG_DEFAULTS)


@MODELS.register_module()
class AffinityNet(BackboneSegmentor):
    """`AffinityNet <https://arxiv.org/abs/1803.10464>`_ as a reusable
    pseudo-mask refiner (PSA, Ahn & Kwak, CVPR 2018).

    Training (``mode='loss'``) learns pixel affinities from the pseudo
    masks of any method (``gt_sem_seg``; uncertain pixels
    ``ignore_index``), see :class:`~mmwsss.models.AffinityHead`.
    Prediction refines saved CAMs of any method (``data_sample.cams``,
    loaded by :class:`~mmwsss.datasets.LoadCAMs`) by a random walk on the
    predicted affinities:

    .. code:: text

        predict(inputs, data_samples)
        ├── f = aff_head(backbone(inputs))        embedding, stride 8
        ├── W_ij = exp(-mean|f_i - f_j|)           pairs within radius
        ├── S = [bg(A), A_1 .. A_L]                CAMs + background score
        │                                          (PSA: (1 - max A)^16)
        ├── S_8 = avgpool(S)                       to the embedding grid
        ├── S_rw = S_8 T^t,  T = W^beta D^-1       random_walk (sparse)
        └── upsample, label = argmax(S_rw)         (or a threshold rule),
                                                   postprocess_masks (the
                                                   optional dense CRF)

    The CAMs are given at the original image size; a test pipeline may
    resize the image (e.g. ``Resize(scale_factor=2)`` to walk on a finer grid
    for small images): the CAMs are resized to it and the result back to the
    original size.

    Each predicted sample carries ``cams`` (the propagated class maps
    divided by their joint maximum, as IRN ``make_sem_seg_labels.py``),
    ``cam_labels`` and, with ``output_bg='propagated'``, ``bg_score`` (the
    propagated background on the same scale): ``pred_sem_seg`` is then
    PSA's argmax mask, and :class:`~mmwsss.evaluation.PseudoMaskMetric`
    still sweeps a threshold over the propagated class maps. The dense CRF
    of the masks (``test_cfg.crf`` ...) is that of
    :class:`~mmwsss.models.CAMSegmentor`.

    Args:
        backbone (dict): Backbone config with multi-level outputs.
        aff_head (dict): :class:`~mmwsss.models.AffinityHead` config.
        neck (dict, optional): Defaults to None.
        data_preprocessor (dict, optional): Defaults to None.
        train_cfg (dict, optional): Unused (the pair radius of training is
            the head's ``radius``; any key in it is an error).
        test_cfg (dict, optional): Random walk settings, merged over
            :attr:`default_test_cfg` (unknown keys and values of the wrong
            kind are an error naming them):

            - ``radius`` (int): pair radius, default 5 (PSA ``infer_aff``).
            - ``beta`` (float): ``W^beta``, default 8 (PSA).
            - ``num_iters`` (int): walk length ``t``, default 256
              (PSA ``logt=8``).
            - ``bg`` (dict): background score of the input CAMs, default
              ``dict(type='power', alpha=16)`` (PSA ``infer_aff``).
            - ``output_bg``: ``'propagated'`` (default, PSA: argmax over
              the propagated background and classes) or a background rule
              dict applied to the propagated class maps (IRN:
              ``dict(type='threshold', thr=0.25)``).
            - ``sweep_bg`` (dict): the rule family the metric sweeps,
              default ``dict(type='threshold', thr=0.25)``.
            - ``crf``, ``crf_images``, ``crf_sweep``, ``crf_workers``: the
              dense CRF of the masks, as for
              :class:`~mmwsss.models.CAMSegmentor` (default: none).
        init_cfg (dict, optional): Defaults to None.
    """

    #: Every ``test_cfg`` key and its default.
    default_test_cfg = _DEFAULT_TEST_CFG
    #: The kinds of the typed ``test_cfg`` values.
    test_cfg_kinds = dict(
        radius='int', beta='number', num_iters='int', **POSTPROCESS_CFG_KINDS)

    def __init__(self,
                 backbone: ConfigType,
                 aff_head: ConfigType,
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
        self.aff_head = MODELS.build(aff_head)
        name = type(self).__name__
        cfg = self.checked_cfgs(train_cfg, test_cfg)
        check_bg_rule(cfg['bg'], f'{name} test_cfg.bg')
        check_bg_rule(cfg['sweep_bg'], f'{name} test_cfg.sweep_bg')
        if cfg['output_bg'] != 'propagated':
            check_bg_rule(cfg['output_bg'], f'{name} test_cfg.output_bg')
        if int(cfg['num_iters']) < 0 or float(cfg['beta']) <= 0:
            raise ValueError('AffinityNet test_cfg: num_iters must be >= 0 '
                             f"and beta > 0, got {cfg['num_iters']} and "
                             f"{cfg['beta']}")

    @property
    def num_classes(self) -> int:
        """int: Segmentation classes including background."""
        return self.aff_head.num_classes

    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        """The embedding ``(B, D, h, w)``."""
        return self.aff_head(self.extract_feat(inputs))

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Affinity loss on the pseudo masks of the batch."""
        return self.aff_head.loss(self.extract_feat(inputs), data_samples)

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Not meaningful without CAMs; use :meth:`predict`."""
        raise NotImplementedError(
            'AffinityNet refines CAMs: call predict() with data samples '
            'that carry "cams" (LoadCAMs)')

    def refine(self, feats: List[Tensor], index: int, cams: Tensor,
               pad_shape) -> Tensor:
        """Random walk of one image's scores.

        Args:
            feats (list[Tensor]): Backbone features of the batch.
            index (int): The image in the batch.
            cams (Tensor): ``(L, H, W)`` normalised CAMs at input image size.
            pad_shape (tuple): ``(H_in, W_in)`` of the network input.

        Returns:
            Tensor: ``(L + 1, H, W)`` propagated scores, channel 0 the
            background.
        """
        cfg = self.test_cfg
        height, width = cams.shape[-2:]
        scores = torch.cat([background_score(cams, cfg['bg']), cams], dim=0)
        in_h, in_w = pad_shape
        scores = F.pad(scores, (0, in_w - width, 0, in_h - height))
        emb = self.aff_head([f[index:index + 1] for f in feats])
        grid = emb.shape[-2:]
        small = F.adaptive_avg_pool2d(scores[None], grid)[0]
        ind_from, ind_to = affinity_pairs(
            int(cfg['radius']), grid[0], grid[1], device=emb.device)
        aff = self.aff_head.pair_affinity(emb, ind_from, ind_to)[0]
        walked = random_walk(
            small,
            ind_from,
            ind_to,
            aff,
            beta=float(cfg['beta']),
            num_iters=int(cfg['num_iters']))
        up = F.interpolate(
            walked[None], (in_h, in_w), mode='bilinear',
            align_corners=False)[0]
        return up[:, :height, :width]

    @torch.no_grad()
    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Refined pseudo masks; see the class docstring."""
        if data_samples is None or any('cams' not in ds
                                       for ds in data_samples):
            raise KeyError(
                'AffinityNet.predict needs the CAMs to refine in every data '
                'sample ("cams", "cam_labels"): add LoadCAMs to the test '
                "pipeline and set the dataset's data_prefix.cam_path")
        feats = self.extract_feat(inputs)
        cfg = self.test_cfg
        for i, ds in enumerate(data_samples):
            cams = ds.cams.to(inputs.device).float()
            labels = ds.cam_labels.to(torch.int64)
            meta = ds.metainfo
            if meta.get('flip', False):
                raise ValueError('AffinityNet.predict does not support '
                                 'flipped test inputs')
            img_h, img_w = meta.get('img_shape', cams.shape[-2:])[:2]
            ori_h, ori_w = meta.get('ori_shape', cams.shape[-2:])[:2]
            if tuple(cams.shape[-2:]) != (ori_h, ori_w):
                raise ValueError(
                    f"CAMs of {meta.get('img_path')} are "
                    f'{tuple(cams.shape[-2:])} but the image is '
                    f'{(ori_h, ori_w)}')
            if (img_h, img_w) != (ori_h, ori_w) and cams.shape[0]:
                # a test pipeline that resizes the image (e.g. to walk on a
                # finer grid): the CAMs follow it
                cams = F.interpolate(
                    cams[None], (img_h, img_w),
                    mode='bilinear',
                    align_corners=False)[0]
            elif (img_h, img_w) != (ori_h, ori_w):
                cams = cams.new_zeros((0, img_h, img_w))
            walked = self.refine(feats, i, cams, inputs.shape[-2:])
            if (img_h, img_w) != (ori_h, ori_w):
                walked = F.interpolate(
                    walked[None], (ori_h, ori_w),
                    mode='bilinear',
                    align_corners=False)[0]
            peak = walked[1:].max() if walked.shape[0] > 1 else \
                walked.new_tensor(1.0)
            peak = peak.clamp(min=1e-5)
            out = dict(cams=walked[1:] / peak, cam_labels=labels)
            if cfg['output_bg'] == 'propagated':
                out['bg_score'] = walked[:1] / peak
                rule = dict(cfg['sweep_bg'], output='propagated')
            else:
                rule = dict(cfg['output_bg'])
            ds.set_data(out)
            ds.set_metainfo(dict(cam_bg_rule=rule))
        return self.postprocess_masks(data_samples)

    def postprocess_result(self, *args, **kwargs):  # pragma: no cover
        """Not used: :meth:`predict` builds its outputs itself."""
        raise NotImplementedError
