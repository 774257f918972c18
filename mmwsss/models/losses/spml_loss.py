# Copyright (c) OpenMMLab. All rights reserved.
"""SPML's pixel-to-segment contrastive loss and its four relations.

Ke et al., "Universal Weakly Supervised Segmentation by Pixel-to-Segment
Contrastive Learning" (SPML, ICLR 2021, https://arxiv.org/abs/2105.00957),
Sec. 3. Each relation defines, for every pixel ``i``, positive segments
``C+_i`` and negative segments ``C-_i``; the loss of a relation is the
SegSort NCA loss (:mod:`~mmwsss.models.losses.segsort_loss`, eq. 3) with
its own concentration, and the total is eq. 4::

    L = w_A L_A + w_C L_C + w_I L_I + w_O L_O

The functions below build the ``(N pixels, S segments)`` boolean sets of
one relation each; :class:`PixelToSegmentContrastiveLoss` runs the whole
step (k-means segments, prototypes, gathering over processes, memory bank,
the enabled relations) from dense embeddings and label maps.

Labels inside these functions: ``-1`` is "unlabelled" (SPML's semantic
values ``[num_classes, 254]``), ``0 .. num_classes - 1`` are classes; the
pixels that are not part of the image (value 255, the crop padding) are
removed before (they are in no segment and anchor no loss).
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.segment_bank import SegmentMemoryBank, all_gather_cat
from ..utils.spherical_kmeans import (append_coordinates, intersect_segments,
                                      segment_majority_label,
                                      segment_prototypes, spherical_kmeans)
from .segsort_loss import (segsort_nca_loss, segsort_nca_per_pixel,
                           segsort_plus_sets)

__all__ = [
    'PixelToSegmentContrastiveLoss', 'semantic_annotation_sets',
    'cooccurrence_sets', 'image_similarity_sets', 'propagate_segment_labels',
    'feature_affinity_sets', 'labels_to_tags'
]


def semantic_annotation_sets(pixel_labels: Tensor, pixel_segments: Tensor,
                             segment_labels: Tensor) -> Tuple[Tensor, Tensor]:
    """Relation A, semantic annotation (paper Sec. 3.1).

    Anchors are the labelled pixels; only labelled segments take part.
    ``C+_i``: segments with pixel ``i``'s label, without its own segment
    (or only the own segment when it is the only one); ``C-_i``: labelled
    segments of another label (:func:`segsort_plus_sets`).

    Args:
        pixel_labels (Tensor): ``(N, )`` long, ``-1`` unlabelled.
        pixel_segments (Tensor): ``(N, )`` long column of each pixel's own
            segment, ``-1`` for none.
        segment_labels (Tensor): ``(S, )`` long segment labels (majority
            vote, exact when segments are split by label), ``-1``
            unlabelled.

    Returns:
        tuple[Tensor, Tensor]: ``(positive, negative)`` ``(N, S)`` bool.
    """
    both = (pixel_labels >= 0)[:, None] & (segment_labels >= 0)[None]
    eq = pixel_labels[:, None] == segment_labels[None]
    return segsort_plus_sets(eq & both, ~eq & both, pixel_segments)


def cooccurrence_sets(image_tags: Tensor, pixel_images: Tensor,
                      pixel_segments: Tensor, segment_tags: Tensor,
                      segment_images: Tensor) -> Tuple[Tensor, Tensor]:
    """Relation C, semantic co-occurrence (paper Sec. 3.1).

    A segment is positive to pixel ``i`` when its image shares a tag with
    ``i``'s image (multi-hot dot product > 0) or is ``i``'s image itself;
    it is negative when the tags are disjoint. Every pixel is an anchor,
    labelled or not. SegSort+ rule on the own segment.

    The paper puts all the segments of the pixel's own image in ``C+``;
    the reference code only compares tags, which is the same except for an
    image without foreground tag, whose own-image segments the code makes
    negative (and its pixels then fall back to their own segment).

    Args:
        image_tags (Tensor): ``(B, T)`` multi-hot tags of the images.
        pixel_images (Tensor): ``(N, )`` long image index of each pixel.
        pixel_segments (Tensor): ``(N, )`` long own segment, ``-1`` none.
        segment_tags (Tensor): ``(S, T)`` tags of each segment's image.
        segment_images (Tensor): ``(S, )`` long image index of each
            segment (``-1`` for memory segments, of no current image).

    Returns:
        tuple[Tensor, Tensor]: ``(positive, negative)`` ``(N, S)`` bool.
    """
    share = (image_tags.float() @ segment_tags.float().t()) > 0
    own_image = torch.arange(image_tags.shape[0], device=share.device)
    share |= own_image[:, None] == segment_images[None]
    same = share[pixel_images]
    return segsort_plus_sets(same, ~same, pixel_segments)


def image_similarity_sets(pixel_regions: Tensor, pixel_images: Tensor,
                          pixel_segments: Tensor, segment_regions: Tensor,
                          segment_images: Tensor) -> Tuple[Tensor, Tensor]:
    """Relation I, low-level image similarity (paper Sec. 3.1).

    Only the segments of pixel ``i``'s image take part: those in ``i``'s
    over-segmentation region are positive (the other k-means pieces of the
    region; the own segment when there is none), those of the other
    regions negative.

    Args:
        pixel_regions (Tensor): ``(N, )`` long region id of each pixel.
        pixel_images (Tensor): ``(N, )`` long image index.
        pixel_segments (Tensor): ``(N, )`` long own segment, ``-1`` none.
        segment_regions (Tensor): ``(S, )`` long region of each segment.
        segment_images (Tensor): ``(S, )`` long image index.

    Returns:
        tuple[Tensor, Tensor]: ``(positive, negative)`` ``(N, S)`` bool.
    """
    same_image = pixel_images[:, None] == segment_images[None]
    same_region = pixel_regions[:, None] == segment_regions[None]
    return segsort_plus_sets(same_image & same_region,
                             same_image & ~same_region, pixel_segments)


def _image_similarity_loss(pixel_embeddings: Tensor, prototypes: Tensor,
                           pixel_regions: Tensor, pixel_images: Tensor,
                           pixel_segments: Tensor, segment_regions: Tensor,
                           segment_images: Tensor,
                           concentration: float) -> Tensor:
    """Relation I's loss, the mean over each image's pixels, then over the
    images.

    Only a pixel's own image's segments take part
    (:func:`image_similarity_sets`), so the loss is computed image by
    image on ``(N_b, S_b)`` blocks, which is the same value as on the
    ``(N, S)`` matrix at about ``1 / B`` of its cost.

    Args:
        pixel_embeddings (Tensor): ``(N, D)`` unit pixel embeddings.
        prototypes (Tensor): ``(S, D)`` unit segment prototypes.
        pixel_regions (Tensor): ``(N, )`` long region id of each pixel.
        pixel_images (Tensor): ``(N, )`` long image index.
        pixel_segments (Tensor): ``(N, )`` long own segment (``0..S-1``).
        segment_regions (Tensor): ``(S, )`` long region of each segment.
        segment_images (Tensor): ``(S, )`` long image index.
        concentration (float): ``kappa``.

    Returns:
        Tensor: The float32 scalar loss.
    """
    local = torch.full_like(segment_images, -1)
    losses, counted, weights = [], [], []
    for image in pixel_images.unique().tolist():
        rows = (pixel_images == image).nonzero().flatten()
        cols = (segment_images == image).nonzero().flatten()
        local[cols] = torch.arange(cols.numel(), device=cols.device)
        pos, neg = image_similarity_sets(pixel_regions[rows],
                                         pixel_images[rows],
                                         local[pixel_segments[rows]],
                                         segment_regions[cols],
                                         segment_images[cols])
        loss, has_positive = segsort_nca_per_pixel(
            pixel_embeddings[rows], prototypes[cols], pos, neg,
            concentration)
        losses.append(loss)
        counted.append(has_positive)
        weights.append(loss.new_full(loss.shape, 1.0 / rows.numel()))
    if not losses:  # no pixel: a zero with a gradient path
        return pixel_embeddings.float().sum() * 0 + prototypes.float().sum(
        ) * 0
    w = torch.cat(weights) * torch.cat(counted)
    total = w.sum()
    return (torch.cat(losses) * w).sum() / torch.where(
        total > 0, total, torch.ones_like(total))


def propagate_segment_labels(prototypes: Tensor,
                             segment_labels: Tensor,
                             segment_images: Optional[Tensor] = None,
                             threshold: Optional[float] = None) -> Tensor:
    """Label each unlabelled segment by its nearest labelled segment.

    The expanded labelled set of the feature-affinity relation (paper
    Sec. 3.1): cosine between prototypes, top-1.

    Args:
        prototypes (Tensor): ``(S, D)`` unit prototypes.
        segment_labels (Tensor): ``(S, )`` long, ``-1`` unlabelled.
        segment_images (Tensor, optional): ``(S, )`` image index; given,
            the neighbour is searched in the same image only (the unused
            helper of the reference code); None searches every segment
            (paper: "within and across images"). Defaults to None.
        threshold (float, optional): Minimal cosine to accept a neighbour
            (the reference helper uses 0.95 on location-augmented
            prototypes). Defaults to None (always accept; the paper gives
            none).

    Returns:
        Tensor: ``(S, )`` long expanded labels (``-1`` where no neighbour
        was accepted).
    """
    out = segment_labels.clone()
    labelled = segment_labels >= 0
    if labelled.all() or not labelled.any():
        return out
    with torch.no_grad():
        sim = prototypes[~labelled].float() @ prototypes[labelled].float().t()
        if segment_images is not None:
            other = (segment_images[~labelled][:, None] !=
                     segment_images[labelled][None])
            sim = sim.masked_fill(other, float('-inf'))
        best, nearest = sim.max(1)
        accept = best > float('-inf')
        if threshold is not None:
            accept &= best >= threshold
        new = torch.where(accept, segment_labels[labelled][nearest],
                          torch.full_like(nearest, -1))
    out[~labelled] = new
    return out


def feature_affinity_sets(pixel_labels: Tensor, pixel_segments: Tensor,
                          expanded_labels: Tensor) -> Tuple[Tensor, Tensor]:
    """Relation O, feature affinity (paper Sec. 3.1).

    Pixel ``i`` takes its own label, or, unlabelled, the expanded label of
    its own segment (:func:`propagate_segment_labels`); then the sets are
    those of :func:`semantic_annotation_sets` on the expanded labels.

    Args:
        pixel_labels (Tensor): ``(N, )`` long, ``-1`` unlabelled.
        pixel_segments (Tensor): ``(N, )`` long own segment, ``-1`` none.
        expanded_labels (Tensor): ``(S, )`` long expanded segment labels.

    Returns:
        tuple[Tensor, Tensor]: ``(positive, negative)`` ``(N, S)`` bool.
    """
    own = expanded_labels[pixel_segments.clamp(min=0)]
    own = torch.where(pixel_segments >= 0, own, torch.full_like(own, -1))
    labels = torch.where(pixel_labels >= 0, pixel_labels, own)
    return semantic_annotation_sets(labels, pixel_segments, expanded_labels)


def labels_to_tags(labels: Tensor,
                   num_classes: int,
                   background_index: Optional[int] = 0) -> Tensor:
    """Image tags from label maps: the classes present (multi-hot).

    Args:
        labels (Tensor): ``(B, H, W)`` semantic labels (values outside
            ``[0, num_classes)`` are not classes).
        num_classes (int): Number of classes.
        background_index (int, optional): Class left out of the tags.
            Defaults to 0 (SPML's tags are the foreground classes).

    Returns:
        Tensor: ``(B, num_classes)`` float, or ``(B, num_classes - 1)``
        without the background column.
    """
    b = labels.shape[0]
    flat = labels.reshape(b, -1).long()
    inside = (flat >= 0) & (flat < num_classes)
    tags = labels.new_zeros(b, num_classes + 1, dtype=torch.float32)
    tags.scatter_(1, torch.where(inside, flat, num_classes), 1.0)
    tags = tags[:, :num_classes]
    if background_index is not None:
        keep = torch.arange(num_classes, device=tags.device) != \
            background_index
        tags = tags[:, keep]
    return tags


def _resize_labels(labels: Tensor, size: Tuple[int, int]) -> Tensor:
    """``(B, H, W)`` (or ``(B, 1, H, W)``) integer maps, resized by
    nearest neighbour (never bilinear) when needed."""
    if labels.dim() == 4:
        if labels.shape[1] != 1:
            raise ValueError('label maps must be (B, H, W) or (B, 1, H, W), '
                             f'got {tuple(labels.shape)}')
        labels = labels[:, 0]
    if labels.dim() != 3:
        raise ValueError('label maps must be (B, H, W) or (B, 1, H, W), '
                         f'got {tuple(labels.shape)}')
    labels = labels.long()
    if tuple(labels.shape[-2:]) != tuple(size):
        labels = F.interpolate(labels[:, None].double(), size=size,
                               mode='nearest')[:, 0].long()
    return labels


@MODELS.register_module()
class PixelToSegmentContrastiveLoss(nn.Module):
    """Pixel-to-segment contrastive loss of `SPML
    <https://arxiv.org/abs/2105.00957>`_ (Ke et al., ICLR 2021).

    From dense embeddings ``(B, D, h, w)``, the semantic label maps and a
    low-level over-segmentation, one call does:

    1. ``e = normalize(embedding)``; ``e_loc = normalize([e; y; x])`` with
       ``y, x`` in ``[-0.5, 0.5]`` (``use_location``).
    2. Spherical k-means of ``e_loc`` per image from a ``kmeans_grid``
       partition, ``kmeans_iters`` rounds, without gradient
       (:func:`~mmwsss.models.utils.spherical_kmeans`).
    3. Segments = clusters intersected with the regions (and with the
       semantic values, ``segment_by_label``); prototypes
       ``mu_s = normalize(sum_{i in s} e_i)`` with gradient; a segment's
       label is the majority vote of its pixels.
    4. In distributed training the segments of every process are gathered
       with a differentiable ``all_gather``; the memory bank adds the
       detached segments of the last ``memory_size`` batches.
    5. The enabled relations (weight > 0), each the SegSort NCA loss::

           L_r = mean_i -log( sum_{s in C+_i} exp(kappa_r mu_s^T e_i)
                          / sum_{s in C+_i u C-_i} exp(kappa_r mu_s^T e_i) )

       - A, semantic annotation (:func:`semantic_annotation_sets`):
         labelled pixels vs labelled segments of the batch (all processes)
         and memory.
       - C, semantic co-occurrence (:func:`cooccurrence_sets`): every
         pixel vs every segment of the batch and memory, by shared tags.
       - I, low-level image similarity (:func:`image_similarity_sets`):
         every pixel vs the segments of its own image, by region, on
         ``e_loc`` and prototypes of ``e_loc``; averaged per image, then
         over images. No memory.
       - O, feature affinity (:func:`feature_affinity_sets`): A after
         labelling each unlabelled segment by its nearest labelled one.
         Described in the paper (used on DensePose only), **never
         evaluated by the released code**: implemented here and off by
         default (``feat_aff_weight=0``).

    The total is ``w_A L_A + w_C L_C + w_I L_I + w_O L_O`` (paper eq. 4).
    In the code ``w_A`` also scales the cross-entropy of an auxiliary
    softmax classifier on the detached embeddings; that classifier is not
    part of this loss.

    Defaults are the reference code's VOC image-tag setting (also its box
    setting): ``w = 0.3 / 0.3 / 0.1 / 0`` and ``kappa = 6 / 8 / 16`` for
    A / C / I (``kappa_O = 12`` is the code's DensePose value). The paper's
    Table 5 fixes ``w_A = 1``: tags and boxes ``w_C = 1.0, w_I = 0.3``;
    scribbles ``0.5, 0.1`` (code ``1.0 / 0.5 / 0.1``, ``kappa_C = 12``);
    points ``1.0, 1.0`` (code ``0.1 / 0.1 / 0.1``); DensePose ``w_C = 0,
    w_I = 0.1, w_O = 0.5`` (code ``1.0 / 0 / 0.1 / 0.5``, O inert). The
    code's ratios match the paper's up to a global scale, except tags and
    boxes (``w_I / w_A`` 0.33 vs 0.3). The paper sets one ``kappa`` per
    relation (App. A); its values are lost in the extracted text used here,
    so the code's are the only source.

    Label encoding (SPML): semantic value ``ignore_index`` (255, the crop
    padding) is not part of the image: no cluster, no segment, no loss.
    Values in ``[num_classes, ignore_index)`` are unlabelled pixels that
    are still clustered and used by C and I. Negative region ids are
    treated as padding too.

    Usable as an auxiliary loss of any model: build it directly (typed
    ``__init__``) or from the registry, and call it with the embeddings.
    Computed in float32 with autocast off (``exp(kappa cos)`` overflows
    fp16). The memory bank is updated in training mode only.

    Args:
        num_classes (int): Number of classes. Defaults to 21 (VOC).
        ignore_index (int): Semantic value of the pixels outside the image.
            Defaults to 255.
        sem_ann_weight (float): ``w_A``. Defaults to 0.3 (code).
        sem_occ_weight (float): ``w_C``. Defaults to 0.3 (code).
        img_sim_weight (float): ``w_I``. Defaults to 0.1 (code).
        feat_aff_weight (float): ``w_O``. Defaults to 0.0 (off; the code
            never evaluates it).
        sem_ann_concentration (float): ``kappa_A``. Defaults to 6 (code).
        sem_occ_concentration (float): ``kappa_C``. Defaults to 8 (code;
            12 for scribbles).
        img_sim_concentration (float): ``kappa_I``. Defaults to 16 (code).
        feat_aff_concentration (float): ``kappa_O``. Defaults to 12 (code,
            DensePose).
        kmeans_grid (Sequence[int]): ``(K_y, K_x)`` initial grid. Defaults
            to (6, 6) (code, VOC training: 36 clusters per image).
        kmeans_iters (int): k-means rounds. Defaults to 10.
        use_location (bool): Cluster (and compute I) on ``e_loc``.
            Defaults to True (code).
        segment_by_label (bool): Also split segments by semantic value, so
            each segment has one label (code); False keeps the segments of
            clusters and regions and labels them by majority vote (paper).
            Defaults to True.
        memory_size (int): Batches in the memory bank. Defaults to 2.
        gather_segments (bool): Gather the segments of all processes in
            distributed training (differentiable). Defaults to True.
        feat_aff_threshold (float, optional): Minimal cosine of the
            nearest labelled segment in relation O. Defaults to None.
        feat_aff_within_image (bool): Search that neighbour in the same
            image only. Defaults to False (paper).
        background_index (int, optional): Class left out of the tags that
            are derived from the label maps when no tags are given.
            Defaults to 0.
        loss_name (str): Prefix of the loss keys. Defaults to 'loss_spml'.
    """

    RELATIONS = ('sem_ann', 'sem_occ', 'img_sim', 'feat_aff')

    def __init__(self,
                 num_classes: int = 21,
                 ignore_index: int = 255,
                 sem_ann_weight: float = 0.3,
                 sem_occ_weight: float = 0.3,
                 img_sim_weight: float = 0.1,
                 feat_aff_weight: float = 0.0,
                 sem_ann_concentration: float = 6.0,
                 sem_occ_concentration: float = 8.0,
                 img_sim_concentration: float = 16.0,
                 feat_aff_concentration: float = 12.0,
                 kmeans_grid: Sequence[int] = (6, 6),
                 kmeans_iters: int = 10,
                 use_location: bool = True,
                 segment_by_label: bool = True,
                 memory_size: int = 2,
                 gather_segments: bool = True,
                 feat_aff_threshold: Optional[float] = None,
                 feat_aff_within_image: bool = False,
                 background_index: Optional[int] = 0,
                 loss_name: str = 'loss_spml') -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.weights = dict(
            sem_ann=float(sem_ann_weight),
            sem_occ=float(sem_occ_weight),
            img_sim=float(img_sim_weight),
            feat_aff=float(feat_aff_weight))
        self.concentrations = dict(
            sem_ann=float(sem_ann_concentration),
            sem_occ=float(sem_occ_concentration),
            img_sim=float(img_sim_concentration),
            feat_aff=float(feat_aff_concentration))
        for name in self.RELATIONS:
            if self.weights[name] < 0:
                raise ValueError(f'PixelToSegmentContrastiveLoss: '
                                 f'{name}_weight must be >= 0')
            if self.weights[name] > 0 and self.concentrations[name] <= 0:
                raise ValueError(f'PixelToSegmentContrastiveLoss: '
                                 f'{name}_concentration must be > 0')
        if not any(w > 0 for w in self.weights.values()):
            raise ValueError('PixelToSegmentContrastiveLoss: every relation '
                             'has weight 0')
        if len(kmeans_grid) != 2:
            raise ValueError('PixelToSegmentContrastiveLoss: kmeans_grid '
                             f'must be (K_y, K_x), got {kmeans_grid}')
        self.kmeans_grid = tuple(int(k) for k in kmeans_grid)
        self.kmeans_iters = int(kmeans_iters)
        self.use_location = use_location
        self.segment_by_label = segment_by_label
        self.memory = SegmentMemoryBank(memory_size)
        self.gather_segments = gather_segments
        self.feat_aff_threshold = feat_aff_threshold
        self.feat_aff_within_image = feat_aff_within_image
        self.background_index = background_index
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """str: Prefix of the keys of :meth:`loss_terms`."""
        return self._loss_name

    def extra_repr(self) -> str:
        on = [f'{n}(w={self.weights[n]}, kappa={self.concentrations[n]})'
              for n in self.RELATIONS if self.weights[n] > 0]
        return (f'{", ".join(on)}, grid={self.kmeans_grid}, '
                f'memory_size={self.memory.size}')

    def _gather(self, tensor: Tensor,
                differentiable: bool = False) -> Tuple[Tensor, int]:
        if not self.gather_segments:
            return tensor, 0
        return all_gather_cat(tensor, differentiable=differentiable)

    def loss_terms(self,
                   embeddings: Tensor,
                   seg_labels: Tensor,
                   regions: Tensor,
                   tags: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """The weighted loss of each enabled relation.

        Args:
            embeddings (Tensor): ``(B, D, h, w)`` pixel embeddings (any
                float dtype; normalised here).
            seg_labels (Tensor): ``(B, H, W)`` or ``(B, 1, H, W)`` semantic
                labels in SPML's encoding (see the class docstring);
                resized to ``(h, w)`` by nearest neighbour.
            regions (Tensor): ``(B, H, W)`` or ``(B, 1, H, W)`` region ids
                of the low-level over-segmentation (negative: padding);
                resized likewise.
            tags (Tensor, optional): ``(B, T)`` multi-hot image tags for
                C (e.g. the foreground ``gt_score`` of the data samples).
                Defaults to None: the classes of ``seg_labels`` without
                ``background_index`` (the code also derives them from the
                label map, before cropping).

        Returns:
            dict[str, Tensor]: ``{f'{loss_name}_{relation}': w_r L_r}`` for
            the enabled relations (``sem_ann``, ``sem_occ``, ``img_sim``,
            ``feat_aff``).
        """
        b, _, h, w = embeddings.shape
        if tags is None:
            full = seg_labels[:, 0] if seg_labels.dim() == 4 else seg_labels
            tags = labels_to_tags(full, self.num_classes,
                                  self.background_index)
        if tags.shape[0] != b:
            raise ValueError(f'PixelToSegmentContrastiveLoss: tags must be '
                             f'(B={b}, T), got {tuple(tags.shape)}')
        tags = tags.float()
        labels = _resize_labels(seg_labels, (h, w))
        regions = _resize_labels(regions, (h, w))
        if labels.shape[0] != b or regions.shape[0] != b:
            raise ValueError('PixelToSegmentContrastiveLoss: the label maps '
                             'and the embeddings differ in batch size')
        valid = (labels != self.ignore_index) & (regions >= 0)
        labelled = (labels >= 0) & (labels < self.num_classes)
        pixel_labels = torch.where(labelled, labels, -1)

        with torch.autocast(device_type=embeddings.device.type,
                            enabled=False):
            e = F.normalize(embeddings.float(), dim=1)
            e_loc = append_coordinates(e) if self.use_location else e
        clusters = spherical_kmeans(e_loc, valid, self.kmeans_grid,
                                    self.kmeans_iters)
        maps = [clusters, regions]
        if self.segment_by_label:
            maps.append(labels)
        seg_ids, keys = intersect_segments(*maps, valid=valid)
        num_seg = keys.shape[0]
        seg_images, seg_regions = keys[:, 0], keys[:, 2]
        seg_labels_ = segment_majority_label(seg_ids, pixel_labels, num_seg,
                                             self.num_classes)
        keep = seg_ids >= 0
        pix_seg = seg_ids[keep]
        pix_img = torch.arange(b, device=keep.device)[:, None, None].expand(
            b, h, w)[keep]
        pix_lab = pixel_labels[keep]

        terms: Dict[str, Tensor] = {}
        on = {n for n in self.RELATIONS if self.weights[n] > 0}
        if on & {'sem_ann', 'sem_occ', 'feat_aff'}:
            protos = segment_prototypes(e, seg_ids, num_seg)
            pix_e = e.permute(0, 2, 3, 1)[keep]
            seg_tags = tags[seg_images]
            # every process's segments; this process's rows start at offset
            all_protos, offset = self._gather(protos, differentiable=True)
            all_labels, _ = self._gather(seg_labels_)
            all_tags, _ = self._gather(seg_tags)
            image_tags, image_offset = self._gather(tags)
            all_images, _ = self._gather(seg_images + image_offset)
            own = pix_seg + offset
            pix_img_all = pix_img + image_offset
            batch = (all_protos.detach(), all_labels, all_tags)
            memory = self.memory.read() if self.memory.size else None
            if memory is not None:
                all_protos = torch.cat([all_protos, memory[0]])
                all_labels = torch.cat([all_labels, memory[1]])
                all_tags = torch.cat([all_tags, memory[2]])
                all_images = torch.cat(
                    [all_images, all_images.new_full(memory[1].shape, -1)])
            if 'sem_ann' in on:
                # only the labelled pixels anchor (the sets of the others
                # are empty): leave them out of the (N, S) masks
                rows = pix_lab >= 0
                pos, neg = semantic_annotation_sets(pix_lab[rows], own[rows],
                                                    all_labels)
                terms['sem_ann'] = segsort_nca_loss(
                    pix_e[rows], all_protos, pos, neg,
                    self.concentrations['sem_ann'])
            if 'sem_occ' in on:
                pos, neg = cooccurrence_sets(image_tags, pix_img_all, own,
                                             all_tags, all_images)
                terms['sem_occ'] = segsort_nca_loss(
                    pix_e, all_protos, pos, neg,
                    self.concentrations['sem_occ'])
            if 'feat_aff' in on:
                expanded = propagate_segment_labels(
                    all_protos.detach(), all_labels,
                    all_images if self.feat_aff_within_image else None,
                    self.feat_aff_threshold)
                pos, neg = feature_affinity_sets(pix_lab, own, expanded)
                terms['feat_aff'] = segsort_nca_loss(
                    pix_e, all_protos, pos, neg,
                    self.concentrations['feat_aff'])
            if self.training and self.memory.size:
                self.memory.push(*batch)
        if 'img_sim' in on:
            protos_loc = segment_prototypes(e_loc, seg_ids, num_seg)
            pix_e_loc = e_loc.permute(0, 2, 3, 1)[keep]
            terms['img_sim'] = _image_similarity_loss(
                pix_e_loc, protos_loc, regions[keep], pix_img, pix_seg,
                seg_regions, seg_images, self.concentrations['img_sim'])
        return {
            f'{self._loss_name}_{n}': self.weights[n] * terms[n]
            for n in self.RELATIONS if n in terms
        }

    def forward(self,
                embeddings: Tensor,
                seg_labels: Tensor,
                regions: Tensor,
                tags: Optional[Tensor] = None) -> Tensor:
        """The total loss ``sum_r w_r L_r`` (see :meth:`loss_terms`).

        Args:
            embeddings (Tensor): ``(B, D, h, w)`` pixel embeddings.
            seg_labels (Tensor): ``(B, [1,] H, W)`` semantic labels.
            regions (Tensor): ``(B, [1,] H, W)`` over-segmentation ids.
            tags (Tensor, optional): ``(B, T)`` multi-hot image tags.
                Defaults to None.

        Returns:
            Tensor: The scalar loss.
        """
        terms = self.loss_terms(embeddings, seg_labels, regions, tags)
        return sum(terms.values())
