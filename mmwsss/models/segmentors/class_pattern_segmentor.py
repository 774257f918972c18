# Copyright (c) OpenMMLab. All rights reserved.
"""Luo & Yang (AAAI 2020): class patterns of lower-layer features."""
import copy
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce, get_comm_device
from mmengine.logging import MMLogger, print_log
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from torch import Tensor
from torch.utils.data import DataLoader

from mmwsss.models.utils.cam_utils import normalize_cams
from mmwsss.models.utils.class_pattern import (ClassPatternAccumulator,
                                               class_pattern_mask,
                                               class_pattern_projections)
from mmwsss.models.utils.prototype_labelling import build_fit_dataloader
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

#: The fitted statistics, in the order of the class-pattern file; each is a
#: non-persistent buffer ``class_<key>`` of the model.
STATE_KEYS = ('mean', 'pattern', 'eigenvalue', 'explained', 'cam_agreement',
              'count', 'num_images')

class _FeatureReady(Exception):
    """Raised by the capture hook to stop a forward pass early."""


def load_class_patterns(path: str) -> Dict:
    """Read a class-pattern file (the fitted state of a
    :class:`ClassPatternSegmentor`, saved by
    :class:`~mmwsss.engine.FitModelStateHook`).

    Args:
        path (str): The ``.pth`` file.

    Returns:
        dict: With at least ``mean`` ``(C, d)``, ``pattern`` ``(C, d)`` and
        ``meta`` (``feature_layer``, ``classes`` ...).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'class-pattern file {path} does not exist; tools/test.py with a '
            'ClassPatternSegmentor config and its FitModelStateHook fits the '
            'patterns and writes <work_dir>/class_patterns.pth')
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
    captured with a forward hook.

    **Fitted state** (as mmpretrain's retrievers keep their prototypes):
    the per-class means and class patterns (leading eigenvectors of Eq. 2)
    and their statistics are non-persistent buffers ``class_mean``,
    ``class_pattern``, ``class_eigenvalue``, ``class_explained``,
    ``class_cam_agreement``, ``class_count`` and ``class_num_images`` (so a
    classifier checkpoint loads with no missing keys). :meth:`fit_state`
    fills them in one streaming pass over ``pattern_dataloader`` (the
    :meth:`pattern_pass` outputs of each image go into a
    :class:`~mmwsss.models.utils.ClassPatternAccumulator`; an image counts
    for the classes in its ``selected_classes``, set by a
    ``PerClassDrawDataset``, otherwise for all its classes; the sums of all
    processes are added with ``all_reduce``). The generic
    :class:`~mmwsss.engine.FitModelStateHook` calls it before testing and
    saves :meth:`fitted_state` as ``<work_dir>/class_patterns.pth``;
    ``test_cfg.class_patterns=<file>`` reads such a file instead.

    **Prediction**:

    - fitted (or with a file): the projections ``q_c = (t_u - mean_c)^T
      xi_c`` (Eq. 3) of the image's classes are upsampled bilinearly to the
      image (averaged over ``scales`` and flips when there are several),
      and Algorithm 1 gives the mask: no positive ``q_c`` -> background,
      one -> that class, several -> ``ignore_index``. The sample carries
      ``projections``, ``cams`` (``relu(q_c)`` max-normalised, so that
      :class:`~mmwsss.evaluation.PseudoMaskMetric` can sweep the decision
      boundary above 0), ``cam_labels`` and ``pred_sem_seg``: that mask,
      then the optional dense CRF of ``test_cfg.crf`` (the paper: on
      single-class images only, ``crf_images='single_class'``; see
      :class:`~mmwsss.models.utils.PseudoMaskPostProcessor`); its rule is
      ``dict(type='threshold', thr=0, output='model')``. The forward pass
      stops at ``feature_layer``.
    - not fitted: in validation during training (the classifier's), the
      image-level scores ``pred_score`` only; otherwise the patterns are
      fitted first (as mmpretrain's retrievers prepare their prototypes at
      the first prediction), without saving them.

    Args:
        backbone (dict): Backbone config.
        cam_head (dict): :class:`~mmwsss.models.CAMHead` config.
        feature_layer (str): Dotted name of the module whose output are the
            generic features, relative to this model, e.g.
            ``'backbone.layer4.0'``. Defaults to 'backbone.layer4.0'
            (C4_1, the paper's best layer).
        pattern_dataloader (dict | DataLoader, optional): The images the
            patterns are fitted on (mmengine dataloader config, built with
            ``Runner.build_dataloader``; ``DefaultSampler`` gets
            ``round_up=False``, as padding a shard with repeated images
            would count them twice). Defaults to None (only
            ``test_cfg.class_patterns`` can provide the state).
        sign_rule (str): ``'cam'`` (the sign of each pattern whose
            projection correlates positively with the class's CAM) or
            ``'none'``. Defaults to 'cam'.
        accumulate_on (str): ``'input'`` keeps the float64 sums on the
            features' device (GPU when testing on GPU); ``'cpu'`` on the CPU
            (``C x d x d`` float64: 671 MB for 20 classes at d=2048).
            Defaults to 'input'.
        neck (dict, optional): Neck config. Defaults to None.
        data_preprocessor (dict, optional): Defaults to None.
        train_cfg (dict, optional): Unused (any key in it is an error).
        test_cfg (dict, optional): Merged over the defaults
            (:attr:`default_test_cfg`; unknown keys and values of the wrong
            kind are an error, as for :class:`~mmwsss.models.CAMSegmentor`):

            - ``class_patterns`` (str, optional): a class-pattern file to
              read instead of fitting. Defaults to None.
            - ``scales`` (tuple[float]): default ``(1.0, )`` (the paper
              uses one scale).
            - ``flip`` (bool): default False.
            - ``labels`` (str): ``'gt'`` (image-level labels) or ``'pred'``
              (in the fitting pass too).
            - ``margin`` (float): decision boundary of Algorithm 1 on
              ``q_c``, default 0.0 (the paper: the origin).
            - ``ignore_index`` (int): label of uncertain pixels, default 255.
            - ``cam_sign`` (bool): compute the CAMs of the sign rule in the
              fitting pass (needs the full forward pass). Default True.
            - ``crf``, ``crf_images``, ``crf_sweep``, ``crf_workers``: the
              post-processor of :class:`~mmwsss.models.CAMSegmentor`.
        init_cfg (dict, optional): Defaults to None.
    """

    #: File stem of the saved state (``FitModelStateHook``).
    fitted_state_name = 'class_patterns'
    #: Every ``test_cfg`` key and its default (CAMSegmentor's keys, some
    #: with other defaults, and Algorithm 1's).
    default_test_cfg = {**CAMSegmentor.default_test_cfg, **_DEFAULT_TEST_CFG}
    #: The kinds of the typed ``test_cfg`` values.
    test_cfg_kinds = dict(
        CAMSegmentor.test_cfg_kinds,
        class_patterns='str_or_none',
        margin='number',
        ignore_index='int',
        cam_sign='bool')

    def __init__(self,
                 backbone: ConfigType,
                 cam_head: ConfigType,
                 feature_layer: str = 'backbone.layer4.0',
                 pattern_dataloader: Union[None, dict, DataLoader] = None,
                 sign_rule: str = 'cam',
                 accumulate_on: str = 'input',
                 neck: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            backbone=backbone,
            cam_head=cam_head,
            neck=neck,
            data_preprocessor=data_preprocessor,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            init_cfg=init_cfg)
        try:
            module = self.get_submodule(feature_layer)
        except AttributeError as e:
            names = [n for n, _ in self.named_modules() if n.count('.') <= 2]
            raise ValueError(
                f'feature_layer {feature_layer!r} is not a module of the '
                f'model; modules include: {", ".join(names[:40])}') from e
        if sign_rule not in ('cam', 'none'):
            raise ValueError(f"sign_rule must be 'cam' or 'none', got "
                             f'{sign_rule!r}')
        if accumulate_on not in ('input', 'cpu'):
            raise ValueError("accumulate_on must be 'input' or 'cpu', got "
                             f'{accumulate_on!r}')
        if pattern_dataloader is not None and not isinstance(
                pattern_dataloader, (dict, DataLoader)):
            raise TypeError('pattern_dataloader must be a dataloader config '
                            'dict or a DataLoader, got '
                            f'{type(pattern_dataloader).__name__}')
        self.feature_layer = feature_layer
        self.pattern_dataloader = pattern_dataloader
        self.sign_rule = sign_rule
        self.accumulate_on = accumulate_on
        self._captured: Optional[Tensor] = None
        self._capturing = False
        self._stop_early = False
        module.register_forward_hook(self._capture)
        for key in STATE_KEYS:
            self.register_buffer(
                'class_' + key,
                torch.empty(0, dtype=torch.float64),
                persistent=False)
        #: ``meta`` of the state (feature_layer, classes, ...), or None.
        self.pattern_meta: Optional[Dict] = None
        # where the state came from: 'fit', a file path, or None
        self._state_source: Optional[str] = None

    # ------------------------------------------------------------------
    # fitted state
    @property
    def is_fitted(self) -> bool:
        """bool: The class patterns are present, or will be read from
        ``test_cfg.class_patterns`` (then nothing is fitted)."""
        return self._state_source is not None or \
            self.test_cfg.get('class_patterns') is not None

    def fitted_state(self) -> Dict:
        """The state as saved in a class-pattern file.

        Returns:
            dict: ``mean``, ``pattern``, ``eigenvalue``, ``explained``,
            ``cam_agreement``, ``count``, ``num_images`` (float64 CPU
            tensors, one row per foreground class) and ``meta``
            (``feature_layer``, ``classes``, ``sign_rule``, ``dim``,
            ``total_images``).
        """
        if self._state_source is None:
            raise RuntimeError('ClassPatternSegmentor has no class patterns '
                               'yet (fit_state or test_cfg.class_patterns)')
        state = OrderedDict(
            (key, getattr(self, 'class_' + key).detach().cpu())
            for key in STATE_KEYS)
        state['meta'] = copy.deepcopy(self.pattern_meta)
        return dict(state)

    def load_fitted_state(self, state: Dict, source: str = 'state') -> None:
        """Set the class patterns from a saved state (see
        :meth:`fitted_state`; ``mean``, ``pattern`` and ``meta`` are
        required, the statistics optional).

        Args:
            state (dict): The state.
            source (str): Where it comes from (a file path), for error
                messages. Defaults to 'state'.
        """
        missing = [k for k in ('mean', 'pattern', 'meta') if k not in state]
        if missing:
            raise KeyError(f'class-pattern file {source} lacks {missing}')
        layer = state['meta'].get('feature_layer')
        if layer is not None and layer != self.feature_layer:
            raise ValueError(
                f'class-pattern file {source} was made from layer '
                f'{layer!r}, but this model reads {self.feature_layer!r}')
        num_fg = self.cam_head.num_classes
        if state['pattern'].shape[0] != num_fg:
            raise ValueError(
                f'class-pattern file {source} has '
                f'{state["pattern"].shape[0]} classes, the model {num_fg}')
        device = self.class_mean.device
        for key in STATE_KEYS:
            value = state.get(key)
            value = torch.empty(0, dtype=torch.float64) if value is None \
                else torch.as_tensor(value)
            setattr(self, 'class_' + key, value.to(device))
        self.pattern_meta = copy.deepcopy(dict(state['meta']))
        self._state_source = source

    def _ensure_state(self) -> bool:
        """Read ``test_cfg.class_patterns`` when set (and not read yet)."""
        path = self.test_cfg.get('class_patterns')
        if path is not None and self._state_source != path:
            self.load_fitted_state(load_class_patterns(path), source=path)
        return self._state_source is not None

    def _build_pattern_loader(self) -> DataLoader:
        return build_fit_dataloader(self.pattern_dataloader)

    @torch.no_grad()
    def fit_state(self) -> Dict[str, float]:
        """Fit the class patterns on ``pattern_dataloader`` (every process
        takes its shard; the sums are all-reduced).

        Logs one row per class (images, locations, share of the variance on
        the first component, the paper's Fig. 3, and the CAM agreement).

        Returns:
            dict: ``class_pattern/num_images`` (images processed, all
            processes), ``class_pattern/classes_without_images`` and
            ``class_pattern/mean_explained_variance`` (in %).
        """
        if self.pattern_dataloader is None:
            raise ValueError(
                'ClassPatternSegmentor: nothing to fit the class patterns '
                'on; set model.pattern_dataloader (or read a file with '
                'model.test_cfg.class_patterns)')
        loader = self._build_pattern_loader()
        classes = list(loader.dataset.metainfo['classes'])
        if len(classes) - 1 != self.cam_head.num_classes:
            raise ValueError(
                f'pattern_dataloader: the dataset has {len(classes)} classes '
                f'(with background), the model '
                f'{self.cam_head.num_classes + 1}')
        was_training = self.training
        self.eval()
        accumulator: Optional[ClassPatternAccumulator] = None
        num_images = 0
        num_batches = len(loader)
        every = max(1, num_batches // 10)
        print_log(
            f'Fitting the class patterns of {self.feature_layer} on '
            f'{num_batches} batches (this process)',
            logger='current')
        try:
            for i, data_batch in enumerate(loader):
                data = self.data_preprocessor(data_batch, False)
                samples = self.pattern_pass(data['inputs'],
                                            data['data_samples'])
                accumulator = self.accumulate_patterns(samples, accumulator)
                num_images += len(samples)
                if (i + 1) % every == 0 and i + 1 < num_batches:
                    print_log(
                        f'class patterns: {i + 1}/{num_batches} batches',
                        logger='current')
        finally:
            self.train(was_training)
        return self.finish_patterns(accumulator, num_images, classes)

    def accumulate_patterns(
        self,
        samples: Sequence,
        accumulator: Optional[ClassPatternAccumulator] = None
    ) -> ClassPatternAccumulator:
        """Add the :meth:`pattern_pass` outputs of some images.

        Args:
            samples (Sequence): Data samples with ``features`` ``(d, h,
                w)``, ``cam_labels`` ``(L,)``, optionally ``pattern_cams``
                ``(L, h, w)`` and the metainfo ``selected_classes``.
            accumulator (ClassPatternAccumulator, optional): The sums so
                far. Defaults to None (a new one, on the features' device
                with ``accumulate_on='input'``).

        Returns:
            ClassPatternAccumulator: The sums.
        """
        num_fg = self.cam_head.num_classes
        for sample in samples:
            feats = sample.features
            labels = [int(c) for c in sample.cam_labels]
            chosen = sample.get('selected_classes')
            chosen = labels if chosen is None else [int(c) for c in chosen]
            keep = [j for j, c in enumerate(labels) if c in chosen]
            if accumulator is None:
                device = feats.device if self.accumulate_on == 'input' \
                    else 'cpu'
                accumulator = ClassPatternAccumulator(
                    num_fg, feats.shape[0], device=device)
            cams = sample.get('pattern_cams')
            if cams is not None:
                cams = cams[keep]
            accumulator.update(feats, [labels[j] - 1 for j in keep], cams)
        return accumulator

    def finish_patterns(self, accumulator: Optional[ClassPatternAccumulator],
                        num_images: int,
                        classes: Sequence[str]) -> Dict[str, float]:
        """Reduce the sums over processes and set the class patterns.

        Args:
            accumulator (ClassPatternAccumulator, optional): This process's
                sums (None when it saw no image).
            num_images (int): Images this process added.
            classes (Sequence[str]): Class names, background first.

        Returns:
            dict: The metrics of :meth:`fit_state`.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        num_fg = self.cam_head.num_classes
        # processes that saw no image still take part in the reduction
        dim = torch.tensor([0 if accumulator is None else accumulator.dim],
                           device=get_comm_device())
        all_reduce(dim, op='max')
        if accumulator is None:
            if int(dim) == 0:
                raise RuntimeError(
                    'ClassPatternSegmentor: the pattern pass received no '
                    'images')
            accumulator = ClassPatternAccumulator(num_fg, int(dim))
        processed = torch.tensor([num_images], device=get_comm_device())
        all_reduce(processed, op='sum')
        accumulator.all_reduce()
        stats = accumulator.patterns(self.sign_rule)
        classes = list(classes)
        stats['meta'] = dict(
            feature_layer=self.feature_layer,
            classes=classes,
            sign_rule=self.sign_rule,
            dim=accumulator.dim,
            total_images=int(processed))
        lines = [
            f'Class patterns of {self.feature_layer} (d='
            f'{accumulator.dim}, {int(processed)} images, sign rule '
            f'{self.sign_rule}):',
            f'| {"class":<16} | {"images":>7} | {"locations":>10} | '
            f'{"1st PC %":>8} | {"CAM agreement":>13} |'
        ]
        empty = []
        for k in range(num_fg):
            n_img = int(stats['num_images'][k])
            if n_img == 0:
                empty.append(classes[k + 1])
                lines.append(f'| {classes[k + 1]:<16} | {0:>7} | {0:>10} | '
                             f'{"-":>8} | {"-":>13} |')
                continue
            lines.append(
                f'| {classes[k + 1]:<16} | {n_img:>7} | '
                f'{int(stats["count"][k]):>10} | '
                f'{100 * float(stats["explained"][k]):>8.2f} | '
                f'{float(stats["cam_agreement"][k]):>13.4g} |')
        if empty:
            lines.append(f'classes without images (no pattern; their pixels '
                         f'will be background): {empty}')
        print_log('\n' + '\n'.join(lines), logger=logger)
        self.load_fitted_state(stats, source='fit')
        explained = stats['explained'][stats['count'] > 0]
        metrics = OrderedDict(
            num_images=float(int(processed)),
            classes_without_images=float(len(empty)),
            mean_explained_variance=round(100 * float(explained.mean()), 2)
            if len(explained) else 0.0)
        return {f'class_pattern/{k}': v for k, v in metrics.items()}

    # ------------------------------------------------------------------
    # features
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

    # ------------------------------------------------------------------
    @torch.no_grad()
    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        """Algorithm 1 masks, or image scores before fitting; see the class
        doc."""
        if data_samples is None:
            data_samples = self.default_samples(inputs)
        if not self._ensure_state():
            if getattr(self, '_validating', False):
                # the classifier's validation during training
                logits = self.cam_head.image_logits(self._forward(inputs))
                for ds, score in zip(data_samples, torch.sigmoid(logits)):
                    ds.set_data(dict(pred_score=score))
                return data_samples
            if self.pattern_dataloader is None:
                raise RuntimeError(
                    'ClassPatternSegmentor has no class patterns to predict '
                    'masks with: set model.pattern_dataloader (fitted before '
                    'testing by FitModelStateHook) or '
                    'model.test_cfg.class_patterns=<class_patterns.pth>')
            print_log(
                'ClassPatternSegmentor: fitting the class patterns at the '
                'first prediction (FitModelStateHook fits them before '
                'testing and saves them)',
                logger='current')
            self.fit_state()
        return self._predict_masks(inputs, data_samples)

    @torch.no_grad()
    def pattern_pass(self, inputs: Tensor,
                     data_samples: OptSampleList = None) -> SampleList:
        """What the fitting pass reads from a batch.

        Every sample gets ``features`` ``(d, h, w)`` (the layer's output
        without the padded border), ``cam_labels``, ``pred_score`` (when
        the head ran) and, with ``test_cfg.cam_sign``, ``pattern_cams``
        ``(L, h, w)`` (its classes' rectified single-scale CAMs resized to
        the features, for the sign rule), and the metainfo
        ``feature_layer``.
        """
        if data_samples is None:
            data_samples = self.default_samples(inputs)
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
            if head_out is not None and len(lbl) == 0:
                # a background-only image: no class, no CAM
                out['pattern_cams'] = feats.new_zeros((0, h, w))
            elif head_out is not None:
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
        device = inputs.device
        means = self.class_mean.to(device=device, dtype=torch.float32)
        patterns = self.class_pattern.to(device=device, dtype=torch.float32)
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
                    q = class_pattern_projections(f, means[lbl - 1],
                                                  patterns[lbl - 1])
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
        # Algorithm 1's mask, then the optional dense CRF
        return self.postprocess_masks(data_samples)
