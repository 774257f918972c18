# Copyright (c) OpenMMLab. All rights reserved.
"""SPML: pixel-to-segment contrastive embeddings from any weak label, and
their pseudo masks (softmax or CAM seeds walked on the embedding)."""
import math
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.dist import all_gather_object, get_world_size
from mmengine.logging import print_log
from mmseg.registry import MODELS
from torch import Tensor
from torch.utils.data import DataLoader

from mmwsss.models.losses.spml_loss import _resize_labels
from mmwsss.models.utils.cam_utils import background_score, check_bg_rule
from mmwsss.models.utils.postprocess import (POSTPROCESS_CFG_DEFAULTS,
                                             POSTPROCESS_CFG_KINDS)
from mmwsss.models.utils.prototype_labelling import (
    build_fit_dataloader, image_segments, labelled_segment_prototypes,
    neighbour_histograms)
from mmwsss.models.utils.random_walk import affinity_pairs, random_walk
from mmwsss.models.utils.spherical_kmeans import segment_prototypes
from mmwsss.utils.typing_utils import (ConfigType, OptConfigType,
                                       OptMultiConfig, OptSampleList,
                                       SampleList)
from .backbone_segmentor import BackboneSegmentor

__all__ = ['SPMLSegmentor', 'batch_pixel_maps', 'embedding_random_walk']

_DEFAULT_TEST_CFG = dict(
    seed='softmax',
    labels='gt',
    cam_bg=dict(type='power', alpha=6),
    flip=True,
    radius=5,
    concentration=5.0,
    beta=20.0,
    num_iters=64,
    prototype_grid=12,
    num_neighbors=20,
    prototype_floor=0.15,
    prototype_scales=(1.0, ),
    sweep_bg=dict(type='threshold', thr=0.25),
    **POSTPROCESS_CFG_DEFAULTS)

TRAIN_STAGES = ('embedding', 'classifier')
SEEDS = ('softmax', 'cams', 'prototypes')


def batch_pixel_maps(data_samples: SampleList, key: str,
                     size: Tuple[int, int], pad_value: int) -> Tensor:
    """A packed pixel field of every sample, padded like the images.

    The data preprocessor pads the images at the bottom and right (and
    ``gt_sem_seg`` with ``seg_pad_val``) but no other field; this pads
    ``key`` the same way (as ``EPSHead.batch_saliency`` pads
    ``gt_saliency``).

    Args:
        data_samples (list[SegDataSample]): With the ``PixelData`` field
            ``key`` (``(1, h, w)``, packed by ``PackWSSSInputs(pixel_keys=
            (key, ))``).
        key (str): E.g. ``'gt_weak_seg'`` or ``'gt_region_map'``.
        size (tuple[int, int]): ``(H, W)`` of the batch
            (``batch_input_shape``).
        pad_value (int): Value of the padding: 255 for a weak label (not in
            the image), -1 for a region map (padding, for
            :class:`~mmwsss.models.PixelToSegmentContrastiveLoss`).

    Returns:
        Tensor: ``(B, H, W)`` int64.
    """
    out = torch.full((len(data_samples), ) + tuple(size),
                     int(pad_value),
                     dtype=torch.int64)
    for i, ds in enumerate(data_samples):
        if key not in ds:
            hint = dict(
                gt_weak_seg='a weak label transform (TagsToWeakLabel, '
                'LoadBoxWeakLabel, LoadPointWeakLabel, LoadScribbleWeakLabel)',
                gt_region_map='LoadRegionMap (and data_prefix.region_path)'
            ).get(key, 'its transform')
            raise KeyError(
                f'SPMLSegmentor needs "{key}" in every training sample; '
                f"that of {ds.metainfo.get('img_path')} has none: add "
                f"{hint} to the train pipeline and pack it with "
                f"PackWSSSInputs(pixel_keys=(..., '{key}'))")
        data = getattr(ds, key).data
        data = data[0] if data.dim() == 3 else data
        h, w = data.shape[-2:]
        if h > size[0] or w > size[1]:
            raise ValueError(
                f"{key} of {ds.metainfo.get('img_path')} is {w}x{h}, "
                f'larger than the batch {size[1]}x{size[0]}: was it left out '
                'of a geometric transform (seg_fields)?')
        out[i, :h, :w] = data.to(torch.int64)
    return out


def embedding_random_walk(embedding: Tensor,
                          scores: Tensor,
                          radius: int = 5,
                          concentration: float = 5.0,
                          beta: float = 20.0,
                          num_iters: int = 64) -> Tensor:
    """SPML's random walk of class scores on an embedding's affinity.

    The code (``pseudo_camrw_crf.py``, method notes 3.9) forms the affinity
    ``A_ij = exp(kappa (e_i^T e_j - 1))^beta`` (``kappa = 5``, ``beta =
    20``) of *all* pairs of the stride-8 grid, column-normalises it and
    squares it 6 times (``T^64``). Here the pairs are those within
    ``radius`` of the grid (:func:`~mmwsss.models.utils.affinity_pairs`)
    and ``T`` stays sparse (:func:`~mmwsss.models.utils.random_walk`, self
    loops ``A_ii = 1``, the code's own diagonal), so memory is ``O(N r^2)``
    instead of ``O(N^2)``.

    Args:
        embedding (Tensor): ``(D, h, w)`` unit embeddings.
        scores (Tensor): ``(C, h, w)`` scores.
        radius (int): Pair radius on the grid. Defaults to 5.
        concentration (float): ``kappa``. Defaults to 5.
        beta (float): Exponent. Defaults to 20.
        num_iters (int): Steps ``t``. Defaults to 64.

    Returns:
        Tensor: ``(C, h, w)`` walked scores.
    """
    h, w = embedding.shape[-2:]
    ind_from, ind_to = affinity_pairs(radius, h, w, device=embedding.device)
    flat = embedding.reshape(embedding.shape[0], -1).float()
    cos = (flat[:, ind_from] * flat[:, ind_to]).sum(0)
    aff = torch.exp(concentration * (cos.clamp(max=1.0) - 1.0))
    return random_walk(
        scores.float(),
        ind_from,
        ind_to,
        aff,
        beta=beta,
        num_iters=num_iters)


@MODELS.register_module()
class SPMLSegmentor(BackboneSegmentor):
    """`SPML <https://arxiv.org/abs/2105.00957>`_ (Ke et al., ICLR 2021):
    pixel-to-segment contrastive learning from tags, boxes, scribbles or
    points, and its pseudo masks.

    Training, ``train_stage='embedding'`` (SPML stage 1):

    .. code:: text

        loss(inputs, data_samples)
        ├── e = embedding_head(backbone(inputs))   unit, (B, D, h, w)
        ├── Y = gt_weak_seg, padded with 255       classes / 254 / 255
        ├── R = gt_region_map, padded with -1      over-segmentation
        ├── T = gt_score                           foreground tags (or None)
        ├── loss_spml_{sem_ann,sem_occ,img_sim}    PixelToSegmentContrastive
        │                                          Loss.loss_terms(e, Y, R, T)
        └── loss_spml_cls = w_A CE(cls(e.detach()), Y)   the code's
                                                   auxiliary classifier

    ``train_stage='classifier'`` (SPML's ``train_classifier.py``): backbone
    and embedding head frozen (no gradient, eval mode), only the softmax
    classifier trains, with the cross-entropy against ``gt_sem_seg`` (the
    pseudo masks of an earlier test pass, 255 ignored).

    Prediction (pseudo masks, the code's ``pseudo_softmaxrw_crf.py`` and
    ``pseudo_camrw_crf.py``):

    .. code:: text

        predict(inputs, data_samples)
        ├── e = normalize(e(I) + flip(e(flip I)))  test_cfg.flip
        ├── S = seed scores, (L + 1, h, w):
        │   seed='softmax': softmax(cls(e)) of background + the image's
        │                   classes, each / its maximum (absent: dropped)
        │   seed='cams':    [bg(A), A], saved CAMs (LoadCAMs), background
        │                   (1 - max A)^6 (test_cfg.cam_bg), avg-pooled
        │   seed='prototypes': per k-means segment (12 x 12 start), the
        │                   label histogram of its 20 nearest prototypes
        │                   of the training set (fit_state), background
        │                   and the image's classes, each / max(its max,
        │                   0.15)
        ├── S_rw = S T^t, T from exp(5(cos - 1))^20   embedding_random_walk
        │                   (pairs within radius, sparse), t = 64
        ├── up to the image, / max over classes    cams, bg_score
        └── postprocess_masks                      argmax([bg, cams]),
                                                   optional dense CRF

    Each predicted sample carries ``cams`` ``(L, H, W)`` (walked class
    maps over their joint maximum), ``cam_labels`` ``(L, )``,
    ``bg_score`` ``(1, H, W)`` (the walked background on the same scale)
    and metainfo ``cam_bg_rule`` (``dict(sweep_bg, output='propagated')``:
    the mask is the argmax with the walked background, the metric sweeps
    the threshold family over ``cams``), then ``pred_sem_seg``: the outputs
    of :class:`~mmwsss.models.AffinityNet`, so ``PseudoMaskMetric`` and
    ``PredictionWriterHook`` need nothing new.

    **Nearest-prototype labelling** (the code's tag route after the walk:
    ``prototype_msc.py``, ``pseudo_inference_crf_msc.py``; SegSort's
    inference): ``seed='prototypes'`` labels each image by the prototypes
    of the training set. The bank is the model's *fitted state*
    (mmpretrain's pattern, as :class:`~mmwsss.models.ClassPatternSegmentor`
    has it): :class:`~mmwsss.engine.FitModelStateHook` calls
    :meth:`fit_state` before testing, which runs ``prototype_dataloader``
    (the training images with their round-1 pseudo masks as
    ``gt_sem_seg``), cuts each image into k-means segments and keeps each
    segment's unit prototype with its majority label (segments where
    unlabelled pixels win are dropped); the hook saves the bank as
    ``<work_dir>/spml_prototypes.pth``. The code builds the bank and
    labels at several scales ({0.5, 1, 1.5} and {0.5, 1, 1.5, 2} with
    flips) and keeps absent classes; here both use
    ``test_cfg.prototype_scales`` (default one scale; the histogram maps
    of the scales are averaged before the per-class normalisation) with
    the flip of ``test_cfg.flip``, and keep only the background and the
    image's classes.
    The code does not walk after the labelling (``num_iters=0`` follows
    it). The second classifier round is ``train_stage='classifier'`` on
    the masks written by a test pass.

    Args:
        backbone (dict): Backbone config.
        embedding_head (dict): :class:`~mmwsss.models.SPMLEmbeddingHead`.
        loss (dict): :class:`~mmwsss.models.PixelToSegmentContrastiveLoss`.
        classifier (dict, optional): :class:`~mmwsss.models.SPMLSoftmaxHead`
            (needed by ``seed='softmax'`` and ``train_stage='classifier'``).
            Defaults to None.
        classifier_loss_weight (float, optional): Weight of the classifier's
            cross-entropy in the embedding stage. Defaults to None: the
            loss's ``sem_ann_weight`` (code: ``w_A (CE + L_A)``).
        train_stage (str): ``'embedding'`` or ``'classifier'``. Defaults to
            'embedding'.
        prototype_dataloader (dict | DataLoader, optional): The training
            images and their pseudo masks (``gt_sem_seg``) the prototype
            bank of ``seed='prototypes'`` is fitted on (a dataloader config,
            built with ``Runner.build_dataloader``; the default
            ``DefaultSampler`` sees every image once over the processes).
            Defaults to None.
        neck (dict, optional): Defaults to None.
        data_preprocessor (dict, optional): Defaults to None.
        train_cfg (dict, optional): Unused (any key is an error).
        test_cfg (dict, optional): Merged over :attr:`default_test_cfg`:

            - ``seed`` (str): ``'softmax'`` (default; the code's route for
              boxes, scribbles and points), ``'cams'`` (tags: the saved
              CAMs of a classifier, ``data_sample.cams``) or
              ``'prototypes'`` (tags after round 1: nearest prototypes of
              the fitted bank).
            - ``labels`` (str): the classes kept, ``'gt'`` (``gt_score``,
              default) or ``'pred'`` (classes that win the softmax argmax
              somewhere; ``seed='softmax'`` only).
            - ``cam_bg`` (dict): background rule of the saved CAMs,
              default ``dict(type='power', alpha=6)`` (notes 3.8/3.9).
            - ``flip`` (bool): average the flipped image's embedding (and
              softmax), default True (code).
            - ``radius`` (int): pair radius on the embedding grid, default 5
              (the code uses all pairs at stride 8).
            - ``concentration`` (float), ``beta`` (float), ``num_iters``
              (int): ``exp(kappa (cos - 1))^beta``, ``T^t``; defaults 5, 20,
              64 (code).
            - ``prototype_grid`` (int), ``num_neighbors`` (int),
              ``prototype_floor`` (number): ``seed='prototypes'``'s k-means
              start grid (``K x K``, bank and labelling), the ``k`` of the
              nearest prototypes and the floor of the per-class maximum each
              map is divided by; defaults 12, 20, 0.15 (code).
            - ``prototype_scales`` (numbers): the input scales of the bank
              (every image at every scale) and of the labelling (the
              histogram maps of the scales averaged, then normalised);
              default ``(1.0, )``; the code's bank uses (0.5, 1, 1.5) and
              its labelling (0.5, 1, 1.5, 2), with flips.
            - ``sweep_bg`` (dict): the rule family the metric sweeps,
              default ``dict(type='threshold', thr=0.25)``.
            - ``crf``, ``crf_images``, ``crf_sweep``, ``crf_workers``: the
              dense CRF (code: 10 iterations, see ``DenseCRF``), default
              none.
        init_cfg (dict, optional): Defaults to None.
    """

    #: Every ``test_cfg`` key and its default.
    default_test_cfg = _DEFAULT_TEST_CFG
    #: The kinds of the typed ``test_cfg`` values.
    test_cfg_kinds = dict(
        seed='str',
        labels='str',
        flip='bool',
        radius='int',
        concentration='number',
        beta='number',
        num_iters='int',
        prototype_grid='int',
        num_neighbors='int',
        prototype_floor='number',
        prototype_scales='numbers',
        **POSTPROCESS_CFG_KINDS)
    #: The file stem of the fitted prototype bank (FitModelStateHook).
    fitted_state_name = 'spml_prototypes'

    def __init__(self,
                 backbone: ConfigType,
                 embedding_head: ConfigType,
                 loss: ConfigType = dict(type='PixelToSegmentContrastiveLoss'),
                 classifier: OptConfigType = None,
                 classifier_loss_weight: Optional[float] = None,
                 train_stage: str = 'embedding',
                 prototype_dataloader: Union[None, dict, DataLoader] = None,
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
        name = type(self).__name__
        self.embedding_head = MODELS.build(embedding_head)
        self.spml_loss = MODELS.build(loss)
        self.classifier = MODELS.build(classifier) \
            if classifier is not None else None
        if self.classifier is not None and \
                self.classifier.num_classes != self.spml_loss.num_classes:
            raise ValueError(
                f'{name}: the classifier has {self.classifier.num_classes} '
                f'classes, the loss {self.spml_loss.num_classes}')
        if train_stage not in TRAIN_STAGES:
            raise ValueError(f'{name}: train_stage must be one of '
                             f'{TRAIN_STAGES}, got {train_stage!r}')
        if train_stage == 'classifier' and self.classifier is None:
            raise ValueError(f"{name}: train_stage='classifier' needs a "
                             'classifier')
        self.train_stage = train_stage
        self.classifier_loss_weight = None if classifier_loss_weight is None \
            else float(classifier_loss_weight)
        cfg = self.checked_cfgs(train_cfg, test_cfg)
        if cfg['seed'] not in SEEDS:
            raise ValueError(f'{name} test_cfg.seed must be one of {SEEDS}, '
                             f"got {cfg['seed']!r}")
        if int(cfg['prototype_grid']) < 1 or int(
                cfg['num_neighbors']) < 1 or float(
                    cfg['prototype_floor']) <= 0 or not cfg[
                        'prototype_scales'] or min(
                            cfg['prototype_scales']) <= 0:
            raise ValueError(
                f'{name} test_cfg: prototype_grid and num_neighbors must be '
                '>= 1, prototype_floor and prototype_scales > 0, got '
                f'{cfg["prototype_grid"]}, {cfg["num_neighbors"]}, '
                f'{cfg["prototype_floor"]}, {cfg["prototype_scales"]}')
        if prototype_dataloader is not None and not isinstance(
                prototype_dataloader, (dict, DataLoader)):
            raise TypeError(f'{name}: prototype_dataloader must be a '
                            'dataloader config or a DataLoader, got '
                            f'{type(prototype_dataloader).__name__}')
        self.prototype_dataloader = prototype_dataloader
        # the fitted bank (not in checkpoints: FitModelStateHook saves it)
        self.register_buffer('bank_prototypes', torch.zeros(0, 0),
                             persistent=False)
        self.register_buffer('bank_labels',
                             torch.zeros(0, dtype=torch.int64),
                             persistent=False)
        self._bank_source: Optional[str] = None
        if cfg['labels'] not in ('gt', 'pred'):
            raise ValueError(f"{name} test_cfg.labels must be 'gt' or "
                             f"'pred', got {cfg['labels']!r}")
        if cfg['seed'] == 'softmax' and self.classifier is None:
            raise ValueError(f"{name} test_cfg.seed='softmax' needs a "
                             "classifier (or use seed='cams')")
        check_bg_rule(cfg['cam_bg'], f'{name} test_cfg.cam_bg')
        check_bg_rule(cfg['sweep_bg'], f'{name} test_cfg.sweep_bg')
        if int(cfg['num_iters']) < 0 or float(cfg['beta']) <= 0 or int(
                cfg['radius']) < 1 or float(cfg['concentration']) <= 0:
            raise ValueError(
                f'{name} test_cfg: num_iters must be >= 0, beta and '
                f"concentration > 0, radius >= 1, got {cfg['num_iters']}, "
                f"{cfg['beta']}, {cfg['concentration']}, {cfg['radius']}")
        if self.train_stage == 'classifier':
            for module in (self.backbone, self.neck, self.embedding_head):
                if module is not None:
                    for param in module.parameters():
                        param.requires_grad_(False)
                    module.eval()

    @property
    def num_classes(self) -> int:
        """int: Segmentation classes including background."""
        return self.spml_loss.num_classes

    def train(self, mode: bool = True) -> 'SPMLSegmentor':
        """Set the mode; a frozen embedding stays in eval mode."""
        super().train(mode)
        if self.train_stage == 'classifier':
            for module in (self.backbone, self.neck, self.embedding_head):
                if module is not None:
                    module.eval()
        return self

    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        """The unit embeddings ``(B, D, h, w)``."""
        return self.embedding_head(self.extract_feat(inputs))

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """SPML's losses (or the classifier's); see the class docstring."""
        size = tuple(inputs.shape[-2:])
        if self.train_stage == 'classifier':
            with torch.no_grad():
                emb = self._forward(inputs)
            labels = torch.stack([
                ds.gt_sem_seg.data.reshape(ds.gt_sem_seg.data.shape[-2:])
                for ds in data_samples
            ]).to(emb.device)
            labels = _resize_labels(labels, tuple(emb.shape[-2:]))
            return dict(loss_spml_cls=self.classifier.loss(emb, labels))
        emb = self._forward(inputs)
        weak = batch_pixel_maps(data_samples, 'gt_weak_seg', size,
                                255).to(emb.device)
        regions = batch_pixel_maps(data_samples, 'gt_region_map', size,
                                   -1).to(emb.device)
        tags = None
        if all('gt_score' in ds for ds in data_samples):
            tags = torch.stack([ds.gt_score.float()
                                for ds in data_samples]).to(emb.device)
        losses = self.spml_loss.loss_terms(emb, weak, regions, tags)
        if self.classifier is not None:
            weight = self.classifier_loss_weight
            if weight is None:
                weight = self.spml_loss.weights['sem_ann']
            if weight > 0:
                small = _resize_labels(weak, tuple(emb.shape[-2:]))
                losses['loss_spml_cls'] = weight * self.classifier.loss(
                    emb.detach(), small)
        return losses

    # ------------------------------------------------------------------
    # the prototype bank of seed='prototypes' (fitted state)
    @property
    def is_fitted(self) -> bool:
        """bool: Nothing to fit (another seed) or the bank is present."""
        return self.test_cfg['seed'] != 'prototypes' or \
            self._bank_source is not None

    def fitted_state(self) -> Dict:
        """The bank as saved: ``prototypes`` ``(N, D)`` float32,
        ``labels`` ``(N, )`` int64 and ``meta`` (``num_classes``,
        ``embed_dims``, ``prototype_grid``)."""
        if self._bank_source is None:
            raise RuntimeError('SPMLSegmentor has no prototype bank yet '
                               '(fit_state)')
        return dict(
            prototypes=self.bank_prototypes.detach().cpu(),
            labels=self.bank_labels.detach().cpu(),
            meta=dict(
                num_classes=self.num_classes,
                embed_dims=int(self.bank_prototypes.shape[1]),
                prototype_grid=int(self.test_cfg['prototype_grid'])))

    def load_fitted_state(self, state: Dict, source: str = 'state') -> None:
        """Set the bank from :meth:`fitted_state`'s dict.

        Args:
            state (dict): The state.
            source (str): Where it comes from (a file), for errors.
                Defaults to 'state'.
        """
        missing = [k for k in ('prototypes', 'labels', 'meta')
                   if k not in state]
        if missing:
            raise KeyError(f'prototype bank {source} lacks {missing}')
        if state['meta'].get('num_classes') != self.num_classes:
            raise ValueError(
                f'prototype bank {source} has '
                f"{state['meta'].get('num_classes')} classes, the model "
                f'{self.num_classes}')
        dims = getattr(self.embedding_head, 'embed_dims', None)
        protos = torch.as_tensor(state['prototypes'])
        if dims is not None and protos.dim() == 2 and protos.shape[0] and \
                protos.shape[1] != dims:
            raise ValueError(
                f'prototype bank {source} holds {protos.shape[1]}-d '
                f'prototypes, the model embeds in {dims} dimensions')
        device = self.bank_labels.device
        self.bank_prototypes = torch.as_tensor(
            state['prototypes']).float().to(device)
        self.bank_labels = torch.as_tensor(state['labels']).long().to(device)
        self._bank_source = source

    def _cells(self,
               ds,
               in_shape: Tuple[int, int],
               emb_shape: Tuple[int, int],
               scale: float = 1.0) -> Tuple[int, int]:
        """The embedding cells ``(gh, gw)`` that cover the image (not
        the batch padding) in a batch of ``in_shape`` that was resized by
        ``scale``."""
        in_h, in_w = in_shape
        h, w = emb_shape
        img_h, img_w = ds.metainfo.get('img_shape', (in_h, in_w))[:2]
        return min(h, math.ceil(img_h * scale * h / in_h)), min(
            w, math.ceil(img_w * scale * w / in_w))

    def _scaled_embeddings(
            self, inputs: Tensor) -> List[Tuple[float, Tuple, Tensor]]:
        """``(scale, shape, embeddings)`` of the batch at every
        ``test_cfg.prototype_scales`` (bilinear resize of the inputs)."""
        out = []
        for scale in self.test_cfg['prototype_scales']:
            x = inputs if float(scale) == 1.0 else F.interpolate(
                inputs,
                scale_factor=float(scale),
                mode='bilinear',
                align_corners=False)
            emb, _ = self._embeddings_and_probs(x, softmax=False)
            out.append((float(scale), tuple(x.shape[-2:]), emb))
        return out

    def _segments(self, emb: Tensor) -> Tuple[Tensor, int]:
        """k-means segments of one image's ``(D, gh, gw)`` embedding."""
        k = int(self.test_cfg['prototype_grid'])
        return image_segments(
            emb, (k, k),
            num_iters=self.spml_loss.kmeans_iters,
            use_location=self.spml_loss.use_location)

    @torch.no_grad()
    def fit_state(self) -> Dict[str, float]:
        """Fit the prototype bank on ``prototype_dataloader`` (each
        process takes its shard; the banks are gathered).

        Returns:
            dict: ``spml_prototypes/num_images`` (all processes) and
            ``spml_prototypes/num_prototypes``.
        """
        if self.prototype_dataloader is None:
            raise ValueError(
                "SPMLSegmentor test_cfg.seed='prototypes': nothing to fit "
                'the prototype bank on; set model.prototype_dataloader (the '
                'training images with the round-1 pseudo masks as '
                'data_prefix.seg_map_path)')
        if isinstance(self.prototype_dataloader, dict):
            dataset = self.prototype_dataloader.get('dataset') or {}
            while isinstance(dataset.get('dataset'), dict):  # wrappers
                dataset = dataset['dataset']
            if not (dataset.get('data_prefix') or {}).get('seg_map_path'):
                raise ValueError(
                    'SPMLSegmentor: model.prototype_dataloader.dataset.'
                    'data_prefix.seg_map_path is not set; set it to the '
                    'round-1 pseudo masks the prototypes are labelled by '
                    '(the ground truth there would give the GT-labelled '
                    "diagnostic bank of the code's benchmark, not the "
                    'weakly supervised method)')
        loader = build_fit_dataloader(self.prototype_dataloader)
        was_training = self.training
        self.eval()
        protos, labels, num_images = [], [], 0
        print_log(
            f'Fitting the SPML prototype bank on {len(loader)} batches '
            '(this process)',
            logger='current')
        try:
            for data_batch in loader:
                data = self.data_preprocessor(data_batch, False)
                inputs, samples = data['inputs'], data['data_samples']
                scaled = self._scaled_embeddings(inputs)
                for i, ds in enumerate(samples):
                    if 'gt_sem_seg' not in ds:
                        raise KeyError(
                            'prototype_dataloader: '
                            f"{ds.metainfo.get('img_path')} has no "
                            'gt_sem_seg (the pseudo masks): load it '
                            '(LoadWSSSAnnotations) from '
                            'data_prefix.seg_map_path')
                    mask = ds.gt_sem_seg.data.reshape(
                        ds.gt_sem_seg.data.shape[-2:])
                    for scale, shape, emb in scaled:
                        gh, gw = self._cells(ds, shape, emb.shape[-2:],
                                             scale)
                        e = emb[i, :, :gh, :gw]
                        seg, num = self._segments(e)
                        # nearest, from the image to its cells (the last
                        # cell may reach past the image by under one cell)
                        lab = _resize_labels(mask[None],
                                             (gh, gw))[0].to(e.device)
                        p, y = labelled_segment_prototypes(
                            e, seg, num, lab, self.num_classes)
                        protos.append(p.cpu())
                        labels.append(y.cpu())
                    num_images += 1
        finally:
            self.train(was_training)
        # a process without images still takes part in the gather
        bank = torch.cat(protos) if protos else torch.zeros(
            0, getattr(self.embedding_head, 'embed_dims', 0))
        bank_labels = torch.cat(labels) if labels else torch.zeros(
            0, dtype=torch.int64)
        if get_world_size() > 1:
            parts = all_gather_object((bank, bank_labels, num_images))
            bank = torch.cat([p[0] for p in parts])
            bank_labels = torch.cat([p[1] for p in parts])
            num_images = sum(p[2] for p in parts)
        if bank.shape[0] == 0:
            raise ValueError(
                'SPMLSegmentor.fit_state: no segment of the '
                f'{num_images} images has a labelled majority (are the '
                'pseudo masks of prototype_dataloader empty?)')
        self.load_fitted_state(
            dict(
                prototypes=bank,
                labels=bank_labels,
                meta=dict(num_classes=self.num_classes)),
            source='fit')
        counts = torch.bincount(bank_labels, minlength=self.num_classes)
        print_log(
            f'SPML prototype bank: {bank.shape[0]} prototypes of '
            f'{num_images} images; per class {counts.tolist()}',
            logger='current')
        return {
            'spml_prototypes/num_images': float(num_images),
            'spml_prototypes/num_prototypes': float(bank.shape[0])
        }

    def _prototype_maps(self, emb: Tensor, labels: Tensor) -> Tensor:
        """``(L + 1, gh, gw)`` nearest-prototype label histograms of the
        segments of one image's embedding (background and ``labels``)."""
        seg, num = self._segments(emb)
        protos = segment_prototypes(emb[None], seg[None], num)
        hist = neighbour_histograms(protos, self.bank_prototypes,
                                    self.bank_labels, self.num_classes,
                                    int(self.test_cfg['num_neighbors']))
        keep = torch.cat([labels.new_zeros(1), labels]).to(hist.device)
        return hist[:, keep][seg].permute(2, 0, 1)

    def _prototype_scores(self, maps: List[Tensor],
                          grid: Tuple[int, int]) -> Tensor:
        """The histogram maps of the scales resized to ``grid`` and
        averaged, each channel over max(its maximum, the floor)."""
        maps = torch.stack([
            m if tuple(m.shape[-2:]) == tuple(grid) else _resize(m, grid)
            for m in maps
        ]).mean(0)
        peak = maps.flatten(1).max(1).values.clamp(
            min=float(self.test_cfg['prototype_floor']))
        return maps / peak[:, None, None]

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        """The classifier's logits at the input size (mmseg's plain
        inference, e.g. for a final test of the second-round classifier)."""
        if self.classifier is None:
            raise NotImplementedError(
                'SPMLSegmentor without a classifier has no logits: use '
                "predict() with test_cfg.seed='cams'")
        logits = self.classifier(self._forward(inputs))
        return F.interpolate(
            logits, inputs.shape[-2:], mode='bilinear', align_corners=False)

    # ------------------------------------------------------------------
    def _embeddings_and_probs(self,
                              inputs: Tensor,
                              softmax: bool = True
                              ) -> Tuple[Tensor, Optional[Tensor]]:
        """Unit embeddings (flip-averaged) and classifier softmax (when
        ``softmax`` and the seed is the softmax)."""
        batch = inputs.shape[0]
        x = torch.cat([inputs, inputs.flip(-1)]) if self.test_cfg['flip'] \
            else inputs
        emb = self._forward(x)
        probs = None
        if softmax and self.classifier is not None and \
                self.test_cfg['seed'] == 'softmax':
            probs = torch.softmax(self.classifier(emb).float(), dim=1)
            if self.test_cfg['flip']:
                probs = (probs[:batch] + probs[batch:].flip(-1)) / 2
        if self.test_cfg['flip']:
            emb = F.normalize(emb[:batch] + emb[batch:].flip(-1), dim=1)
        return emb, probs

    def _labels(self, ds, probs: Optional[Tensor]) -> Tensor:
        """The classes (1-based) whose maps are walked."""
        cfg = self.test_cfg
        if cfg['seed'] == 'cams':
            return ds.cam_labels.to(torch.int64).cpu()
        if cfg['labels'] == 'pred' and probs is not None:
            win = probs.argmax(0).unique().cpu()
            return win[win > 0].to(torch.int64)
        if 'gt_score' not in ds:
            raise KeyError(
                "SPMLSegmentor test_cfg.labels='gt' needs image-level labels "
                '("gt_score", packed by PackWSSSInputs); '
                f"{ds.metainfo.get('img_path')} has none. Use labels='pred'")
        return torch.nonzero(ds.gt_score > 0.5).flatten().cpu() + 1

    def _seed_scores(self, ds, labels: Tensor, probs: Optional[Tensor],
                     grid: Tuple[int, int], in_shape: Tuple[int, int],
                     img_shape: Tuple[int, int], emb_shape: Tuple[int, int],
                     device: torch.device,
                     proto_maps: Optional[List[Tensor]] = None) -> Tensor:
        """``(L + 1, gh, gw)`` seed scores, channel 0 the background."""
        cfg = self.test_cfg
        gh, gw = grid
        if cfg['seed'] == 'prototypes':
            return self._prototype_scores(proto_maps, (gh, gw))
        if cfg['seed'] == 'softmax':
            # the code's pseudo_softmaxrw_crf.py: softmax, each present
            # class (and the background) over its maximum, the rest dropped
            keep = torch.cat([labels.new_zeros(1), labels]).to(probs.device)
            scores = probs[keep][:, :gh, :gw]
            peak = scores.flatten(1).max(1).values.clamp(min=1e-5)
            return scores / peak[:, None, None]
        img_h, img_w = img_shape
        cams = ds.cams.float().to(device)
        if tuple(cams.shape[-2:]) != (img_h, img_w):
            cams = _resize(cams, (img_h, img_w))
        scores = torch.cat([background_score(cams, cfg['cam_bg']), cams])
        scores = F.pad(scores,
                       (0, in_shape[1] - img_w, 0, in_shape[0] - img_h))
        pooled = F.adaptive_avg_pool2d(scores[None], tuple(emb_shape))[0]
        return pooled[:, :gh, :gw]

    @torch.no_grad()
    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Pseudo masks; see the class docstring."""
        cfg = self.test_cfg
        if data_samples is None:
            raise ValueError('SPMLSegmentor.predict needs data samples (the '
                             'image labels, or the CAMs of seed="cams")')
        if cfg['seed'] == 'cams' and any('cams' not in ds
                                         for ds in data_samples):
            raise KeyError(
                "SPMLSegmentor test_cfg.seed='cams' needs the CAMs in every "
                'data sample ("cams", "cam_labels"): add LoadCAMs to the test '
                "pipeline and set the dataset's data_prefix.cam_path")
        if not self.is_fitted:
            raise RuntimeError(
                "SPMLSegmentor test_cfg.seed='prototypes' needs the "
                'prototype bank: add FitModelStateHook to custom_hooks (it '
                'fits it on model.prototype_dataloader before testing)')
        emb, probs = self._embeddings_and_probs(inputs)
        in_h, in_w = inputs.shape[-2:]
        h, w = emb.shape[-2:]
        scaled = []  # the labelling's scales: (scale, batch shape, emb)
        if cfg['seed'] == 'prototypes':
            scaled = [(1.0, (in_h, in_w), emb)] if tuple(
                cfg['prototype_scales']) == (1.0, ) else \
                self._scaled_embeddings(inputs)
        for i, ds in enumerate(data_samples):
            meta = ds.metainfo
            if meta.get('flip', False):
                raise ValueError('SPMLSegmentor.predict does not support '
                                 'flipped test inputs (test_cfg.flip flips '
                                 'itself)')
            img_h, img_w = meta.get('img_shape', (in_h, in_w))[:2]
            ori_h, ori_w = meta.get('ori_shape', (img_h, img_w))[:2]
            # the embedding cells that cover the image (not the padding)
            gh, gw = self._cells(ds, (in_h, in_w), (h, w))
            sample_probs = probs[i] if probs is not None else None
            labels = self._labels(ds, sample_probs)
            proto_maps = [
                self._prototype_maps(
                    e[i, :, :cells[0], :cells[1]], labels)
                for scale, shape, e in scaled
                for cells in (self._cells(ds, shape, e.shape[-2:], scale), )
            ]
            scores = self._seed_scores(ds, labels, sample_probs, (gh, gw),
                                       (in_h, in_w), (img_h, img_w), (h, w),
                                       emb.device, proto_maps)
            walked = embedding_random_walk(
                emb[i, :, :gh, :gw],
                scores,
                radius=int(cfg['radius']),
                concentration=float(cfg['concentration']),
                beta=float(cfg['beta']),
                num_iters=int(cfg['num_iters']))
            # back to the image: the grid cells cover (gh * in_h / h) rows
            up = F.interpolate(
                walked[None], (math.ceil(gh * in_h / h),
                               math.ceil(gw * in_w / w)),
                mode='bilinear',
                align_corners=False)[0, :, :img_h, :img_w]
            if tuple(up.shape[-2:]) != (img_h, img_w):
                up = _resize(up, (img_h, img_w))
            if (img_h, img_w) != (ori_h, ori_w):
                up = _resize(up, (ori_h, ori_w))
            peak = up[1:].max().clamp(min=1e-5) if up.shape[0] > 1 else \
                up.new_tensor(1.0)
            ds.set_data(
                dict(
                    cams=up[1:] / peak,
                    cam_labels=labels.to(torch.int64),
                    bg_score=up[:1] / peak))
            ds.set_metainfo(
                dict(cam_bg_rule=dict(cfg['sweep_bg'], output='propagated')))
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

