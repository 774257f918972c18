# Copyright (c) OpenMMLab. All rights reserved.
"""IRN's semantic refiner: class boundaries, path-max affinities and a
random walk of any method's CAMs."""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from mmseg.models.backbones import ResNet
from mmseg.registry import MODELS
from torch import Tensor

from mmwsss.models.utils.cam_utils import check_bg_rule
from mmwsss.models.utils.path_index import path_max_affinity
from mmwsss.models.utils.postprocess import (POSTPROCESS_CFG_DEFAULTS,
                                             POSTPROCESS_CFG_KINDS)
from mmwsss.models.utils.random_walk import random_walk
from mmwsss.utils.typing_utils import (ConfigType, OptConfigType,
                                       OptMultiConfig, OptSampleList,
                                       SampleList)
from .backbone_segmentor import BackboneSegmentor

__all__ = ['IRNet', 'resnet_taps']

_DEFAULT_TEST_CFG = dict(
    radius=5,
    beta=10.0,
    num_iters=256,
    flip=True,
    size_divisor=16,
    bg=dict(type='threshold', thr=0.25),
    **POSTPROCESS_CFG_DEFAULTS)


def resnet_taps(backbone: ResNet, inputs: Tensor) -> List[Tensor]:
    """The five taps of an mmseg ResNet: stem (after the max pool) and
    ``layer1`` .. ``layer4``.

    Runs the backbone's own modules in the order of ``ResNet.forward``
    (deep stem or ``conv1``/``norm1``/``relu``, ``maxpool``, residual
    layers), so every mmseg ResNet variant (``ResNetV1c``/``V1d``,
    ``ResNeXt``) works and the parameter names, hence checkpoints, are
    unchanged; ``out_indices`` is not used.

    Args:
        backbone (ResNet): An mmseg ResNet.
        inputs (Tensor): ``(N, 3, H, W)`` images.

    Returns:
        list[Tensor]: Stem, then one output per residual layer.
    """
    if backbone.deep_stem:
        x = backbone.stem(inputs)
    else:
        x = backbone.relu(backbone.norm1(backbone.conv1(inputs)))
    x = backbone.maxpool(x)
    taps = [x]
    for name in backbone.res_layers:
        x = getattr(backbone, name)(x)
        taps.append(x)
    return taps


@MODELS.register_module()
class IRNet(BackboneSegmentor):
    """The semantic part of `IRN <https://arxiv.org/abs/1904.05044>`_
    (Ahn, Cho & Kwak, CVPR 2019) as a reusable pseudo-mask refiner.

    Training (``mode='loss'``) learns class boundaries from the confident
    masks of any method (``gt_sem_seg``, e.g. by
    :class:`~mmwsss.datasets.CAMsToConfidentMask` with ``crf='irn'``), on a
    frozen backbone, see :class:`~mmwsss.models.IRNBoundaryHead`.
    Prediction refines saved CAMs of any method (``data_sample.cams``,
    loaded by :class:`~mmwsss.datasets.LoadCAMs`), as
    :class:`~mmwsss.models.AffinityNet` does:

    .. code:: text

        predict(inputs, data_samples)
        ├── z = (z(I) + flip(z(flip(I)))) / 2   logits at stride 4
        ├── B = sigmoid(z)                      (make_sem_seg_labels)
        ├── a_ij = 1 - max_{k in path} B_k      pairs within radius 5
        ├── S = avgpool_4(A) * (1 - B)          CAMs of the image's
        │                                       classes, no background
        ├── S_rw = S T^t,  T = A^beta D^-1      random_walk (sparse),
        │                                       self loops, beta 10,
        │                                       t = 256
        ├── up x4, crop, / max over classes     one global maximum
        └── label = argmax([0.25, S_rw])        background constant
                                                after the walk

    ``T`` is column-normalised and the walk ``S T^t`` (IRN's ``x @ T``) is
    :func:`~mmwsss.models.utils.random_walk`, sparse: IRN forms the dense
    ``N x N`` matrix and squares it 8 times. The image is padded right and
    bottom to a multiple of ``size_divisor`` (IRN: to a fixed 512, which
    crops larger images), the boundary map cropped to ``ceil(H / 4) x
    ceil(W / 4)``. IRN's padding of ``B`` with 1 before the affinities only
    removes the pairs that leave the grid (their ``a = 0``), which
    :func:`~mmwsss.models.utils.pair_path_index` never forms. IRN's
    stride-4 CAMs are computed by the CAM network at that size; the saved
    CAMs are area-averaged to it here.

    Each predicted sample carries ``cams`` (the walked class maps divided
    by their joint maximum), ``cam_labels`` and the metainfo
    ``cam_bg_rule`` (``test_cfg.bg``, IRN's threshold 0.25), so
    :class:`~mmwsss.evaluation.PseudoMaskMetric` sweeps the threshold;
    ``pred_sem_seg`` comes from
    :class:`~mmwsss.models.utils.PseudoMaskPostProcessor` (with the optional
    dense CRF of ``test_cfg.crf``).

    The backbone (IRN: a fresh ImageNet ResNet-50, not the CAM network) is
    frozen: its parameters do not require gradients, its outputs are
    computed without autograd, and it stays in eval mode (BatchNorm
    statistics fixed) when the model trains. Without ImageNet weights
    (CPU configs) initialise it from a trained classifier, e.g. a
    :class:`~mmwsss.models.CAMSegmentor` checkpoint with the same backbone:
    ``backbone=dict(..., init_cfg=dict(type='Pretrained',
    checkpoint=CKPT, prefix='backbone.'))``.

    Args:
        backbone (dict): Backbone config: an mmseg ResNet (its five taps
            are taken by :func:`resnet_taps`) or any backbone that returns
            the taps itself.
        boundary_head (dict): :class:`~mmwsss.models.IRNBoundaryHead`
            config.
        data_preprocessor (dict, optional): Defaults to None.
        freeze_backbone (bool): Freeze the backbone (IRN). Defaults to True.
        train_cfg (dict, optional): Unused (the pair radius of training is
            the head's ``radius``; any key in it is an error).
        test_cfg (dict, optional): Merged over :attr:`default_test_cfg`
            (unknown keys and values of the wrong kind are an error):

            - ``radius`` (int): pair radius on the stride-4 grid, default 5
              (IRN ``sem_seg_bg_thres`` stage: ``radius=5``).
            - ``beta`` (float): ``A = a^beta``, default 10 (IRN).
            - ``num_iters`` (int): walk length ``t``, default 256 (IRN
              ``exp_times=8``).
            - ``flip`` (bool): average the logits of the flipped image,
              default True (IRN).
            - ``size_divisor`` (int): pad the image to a multiple of it for
              the boundary map, default 16 (the output stride of IRN's
              ResNet-50).
            - ``bg`` (dict): background rule of the walked maps, default
              ``dict(type='threshold', thr=0.25)`` (IRN
              ``sem_seg_bg_thres``); the metric sweeps its family.
            - ``crf``, ``crf_images``, ``crf_sweep``, ``crf_workers``: the
              dense CRF of the masks, as for
              :class:`~mmwsss.models.CAMSegmentor` (default: none).
        init_cfg (dict, optional): Defaults to None.
    """

    #: Every ``test_cfg`` key and its default.
    default_test_cfg = _DEFAULT_TEST_CFG
    #: The kinds of the typed ``test_cfg`` values.
    test_cfg_kinds = dict(
        radius='int',
        beta='number',
        num_iters='int',
        flip='bool',
        size_divisor='int',
        **POSTPROCESS_CFG_KINDS)

    def __init__(self,
                 backbone: ConfigType,
                 boundary_head: ConfigType,
                 data_preprocessor: OptConfigType = None,
                 freeze_backbone: bool = True,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            backbone=backbone,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.boundary_head = MODELS.build(boundary_head)
        name = type(self).__name__
        cfg = self.checked_cfgs(train_cfg, test_cfg)
        check_bg_rule(cfg['bg'], f'{name} test_cfg.bg')
        if cfg['bg']['type'] != 'threshold':
            raise ValueError(f'{name} test_cfg.bg must be a threshold rule '
                             '(IRN adds a constant background after the '
                             f"walk), got {cfg['bg']}")
        if int(cfg['num_iters']) < 0 or float(cfg['beta']) <= 0 or int(
                cfg['radius']) < 1 or int(cfg['size_divisor']) < 1:
            raise ValueError(
                f'{name} test_cfg: num_iters must be >= 0, beta > 0, '
                f"radius and size_divisor >= 1, got {cfg['num_iters']}, "
                f"{cfg['beta']}, {cfg['radius']} and {cfg['size_divisor']}")
        self.freeze_backbone = bool(freeze_backbone)
        if self.freeze_backbone:
            for param in self.backbone.parameters():
                param.requires_grad_(False)
            self.backbone.eval()

    @property
    def num_classes(self) -> int:
        """int: Segmentation classes including background."""
        return self.boundary_head.num_classes

    def train(self, mode: bool = True) -> 'IRNet':
        """Set the mode; a frozen backbone stays in eval mode (IRN)."""
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        """The backbone taps (detached when the backbone is frozen)."""
        with torch.set_grad_enabled(torch.is_grad_enabled()
                                    and not self.freeze_backbone):
            if isinstance(self.backbone, ResNet):
                taps = resnet_taps(self.backbone, inputs)
            else:
                taps = list(self.backbone(inputs))
        if self.freeze_backbone:
            taps = [t.detach() for t in taps]
        return taps

    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        """Boundary logits ``(N, 1, h, w)`` at stride 4."""
        return self.boundary_head(self.extract_feat(inputs))

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """IRN's affinity loss on the pseudo masks of the batch."""
        return self.boundary_head.loss(
            self.extract_feat(inputs), data_samples)

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """Not meaningful without CAMs; use :meth:`predict`."""
        raise NotImplementedError(
            'IRNet refines CAMs: call predict() with data samples that '
            'carry "cams" (LoadCAMs)')

    def boundary_map(self, image: Tensor) -> Tensor:
        """IRN's boundary map ``B`` of one image.

        Args:
            image (Tensor): ``(3, H, W)`` preprocessed image (unpadded).

        Returns:
            Tensor: ``(ceil(H / 4), ceil(W / 4))`` probabilities: the
            sigmoid of the logits of the image, averaged with those of its
            flip (flipped back) when ``test_cfg.flip``.
        """
        cfg = self.test_cfg
        height, width = image.shape[-2:]
        grid = ((height - 1) // 4 + 1, (width - 1) // 4 + 1)
        batch = [image]
        if cfg['flip']:
            batch.append(image.flip(-1))
        div = int(cfg['size_divisor'])
        pad_h, pad_w = -height % div, -width % div
        x = F.pad(torch.stack(batch), (0, pad_w, 0, pad_h))
        logits = self._forward(x)[:, 0, :grid[0], :grid[1]]
        if cfg['flip']:
            logits = (logits[0] + logits[1].flip(-1)) / 2
        else:
            logits = logits[0]
        return torch.sigmoid(logits)

    def refine(self, image: Tensor, cams: Tensor) -> Tensor:
        """IRN's random walk of one image's CAMs.

        Args:
            image (Tensor): ``(3, H, W)`` preprocessed image.
            cams (Tensor): ``(L, H, W)`` normalised CAMs of its classes.

        Returns:
            Tensor: ``(L, H, W)`` walked class maps (not normalised).
        """
        cfg = self.test_cfg
        height, width = image.shape[-2:]
        bound = self.boundary_map(image)
        grid = tuple(bound.shape)
        if cams.shape[0] == 0:
            return cams.new_zeros((0, height, width))
        radius = int(cfg['radius'])
        index = self.boundary_head.path_index(grid, radius, bound.device)
        aff = path_max_affinity(bound[None], index)[0]
        scores = F.adaptive_avg_pool2d(cams[None], grid)[0] * (1 - bound)
        walked = random_walk(
            scores,
            index.ind_from,
            index.ind_to,
            aff,
            beta=float(cfg['beta']),
            num_iters=int(cfg['num_iters']))
        up = F.interpolate(
            walked[None], scale_factor=4, mode='bilinear',
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
                'IRNet.predict needs the CAMs to refine in every data '
                'sample ("cams", "cam_labels"): add LoadCAMs to the test '
                "pipeline and set the dataset's data_prefix.cam_path")
        for i, ds in enumerate(data_samples):
            cams = ds.cams.to(inputs.device).float()
            labels = ds.cam_labels.to(torch.int64)
            meta = ds.metainfo
            if meta.get('flip', False):
                raise ValueError('IRNet.predict does not support flipped '
                                 'test inputs (test_cfg.flip flips itself)')
            img_h, img_w = meta.get('img_shape', cams.shape[-2:])[:2]
            ori_h, ori_w = meta.get('ori_shape', cams.shape[-2:])[:2]
            if tuple(cams.shape[-2:]) != (ori_h, ori_w):
                raise ValueError(
                    f"CAMs of {meta.get('img_path')} are "
                    f'{tuple(cams.shape[-2:])} but the image is '
                    f'{(ori_h, ori_w)}')
            resized = (img_h, img_w) != (ori_h, ori_w)
            if resized:
                cams = _resize(cams, (img_h, img_w))
            walked = self.refine(inputs[i, :, :img_h, :img_w], cams)
            if resized:
                walked = _resize(walked, (ori_h, ori_w))
            # one maximum over all classes (IRN), not one per class
            peak = walked.max().clamp(min=1e-5) if walked.numel() else 1.0
            ds.set_data(dict(cams=walked / peak, cam_labels=labels))
            ds.set_metainfo(dict(cam_bg_rule=dict(self.test_cfg['bg'])))
        return self.postprocess_masks(data_samples)

    def postprocess_result(self, *args, **kwargs):  # pragma: no cover
        """Not used: :meth:`predict` builds its outputs itself."""
        raise NotImplementedError


def _resize(maps: Tensor, size: Tuple[int, int]) -> Tensor:
    """Bilinear resize of ``(L, H, W)`` maps (``L`` may be 0)."""
    if maps.shape[0] == 0:
        return maps.new_zeros((0, ) + tuple(size))
    return F.interpolate(
        maps[None], size, mode='bilinear', align_corners=False)[0]
