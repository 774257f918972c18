# Copyright (c) OpenMMLab. All rights reserved.
"""The class-pattern pass of Luo & Yang (AAAI 2020) as an mmengine metric."""
import io
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_comm_device, is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS

from mmwsss.models.utils.class_pattern import ClassPatternAccumulator
from mmwsss.utils.io import atomic_write_bytes

__all__ = ['ClassPatternMetric']


@METRICS.register_module()
class ClassPatternMetric(BaseMetric):
    """Accumulate features per class and save the class patterns.

    Consumes the pattern-pass outputs of
    :class:`~mmwsss.models.ClassPatternSegmentor` (``features``,
    ``pattern_cams``, ``cam_labels``) and feeds them, image by image, to a
    :class:`~mmwsss.models.utils.ClassPatternAccumulator`: the streaming
    mean and covariance of Eq. 2 of Luo & Yang (AAAI 2020) for every class,
    over all locations of the images of that class. An image counts for
    the classes in its ``selected_classes`` (set by a dataset's
    ``max_images_per_class``, the paper's "at most 800 images per subset"),
    otherwise for all its classes.

    This metric keeps no per-image results: mmengine's
    :meth:`BaseMetric.evaluate` gathers a list of results on rank 0, which
    for ``d x d`` statistics per image would cost memory growing with the
    number of images. :meth:`evaluate` instead sums the accumulators of all
    processes (``all_reduce``), takes the leading eigenvector of every
    class's covariance with the sign rule, and writes
    ``output_dir/class_patterns.pth`` (atomically) with ``mean``,
    ``pattern``, ``eigenvalue``, ``explained``, ``cam_agreement``,
    ``count``, ``num_images`` (per class) and ``meta`` (``feature_layer``,
    ``classes``, ``sign_rule``, ``dim``, ``total_images``). It logs one row
    per class: images, locations, share of the variance on the first
    component (the paper's Fig. 3) and the CAM agreement.

    Args:
        sign_rule (str): ``'cam'`` (the sign whose projection correlates
            positively with the class's CAM) or ``'none'``. Defaults to
            'cam'.
        output_dir (str, optional): Where ``class_patterns.pth`` goes;
            ``tools/extract_class_patterns.py --out`` sets it. Defaults to
            None (nothing written).
        accumulate_on (str): ``'input'`` keeps the float64 sums on the
            features' device (GPU when testing on GPU); ``'cpu'`` on the
            CPU (``C x d x d`` float64: 671 MB for 20 classes at d=2048).
            Defaults to 'input'.
        collect_device (str): Unused (no results are collected); kept for
            the mmengine interface. Defaults to 'cpu'.
        prefix (str, optional): Metric name prefix. Defaults to None.
    """

    default_prefix = 'class_pattern'

    def __init__(self,
                 sign_rule: str = 'cam',
                 output_dir: Optional[str] = None,
                 accumulate_on: str = 'input',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if sign_rule not in ('cam', 'none'):
            raise ValueError(f"sign_rule must be 'cam' or 'none', got "
                             f'{sign_rule!r}')
        if accumulate_on not in ('input', 'cpu'):
            raise ValueError("accumulate_on must be 'input' or 'cpu', got "
                             f'{accumulate_on!r}')
        self.sign_rule = sign_rule
        self.output_dir = output_dir
        self.accumulate_on = accumulate_on
        self.accumulator: Optional[ClassPatternAccumulator] = None
        self.feature_layer: Optional[str] = None
        self.num_processed = 0

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Add each image's features to the sums of its classes."""
        num_fg = len(self.dataset_meta['classes']) - 1
        for sample in data_samples:
            if 'features' not in sample:
                raise KeyError(
                    'ClassPatternMetric needs the pattern-pass outputs of a '
                    'ClassPatternSegmentor ("features"; test_cfg.'
                    'class_patterns=None); got a sample of '
                    f"{sample.get('img_path')} without them")
            feats = sample['features']
            labels = [int(c) for c in sample['cam_labels']]
            chosen = sample.get('selected_classes')
            chosen = labels if chosen is None else [int(c) for c in chosen]
            keep = [j for j, c in enumerate(labels) if c in chosen]
            if self.accumulator is None:
                device = feats.device if self.accumulate_on == 'input' \
                    else 'cpu'
                self.accumulator = ClassPatternAccumulator(
                    num_fg, feats.shape[0], device=device)
                self.feature_layer = sample.get('feature_layer')
            cams = sample.get('pattern_cams')
            if cams is not None:
                cams = cams[keep]
            self.accumulator.update(feats, [labels[j] - 1 for j in keep],
                                    cams)
            self.num_processed += 1

    def evaluate(self, size: int) -> dict:
        """Reduce over processes, compute and save the class patterns.

        Args:
            size (int): Length of the dataset (logged, not used otherwise).

        Returns:
            dict: ``num_images`` (images processed, all ranks),
            ``classes_without_images``, ``mean_explained_variance`` (in %).
        """
        logger: MMLogger = MMLogger.get_current_instance()
        num_fg = len(self.dataset_meta['classes']) - 1
        # ranks that saw no image still take part in the reduction
        dim = torch.tensor(
            [0 if self.accumulator is None else self.accumulator.dim],
            device=get_comm_device())
        all_reduce(dim, op='max')
        if self.accumulator is None:
            if int(dim) == 0:
                raise RuntimeError('ClassPatternMetric received no images')
            self.accumulator = ClassPatternAccumulator(num_fg, int(dim))
        processed = torch.tensor([self.num_processed],
                                 device=get_comm_device())
        all_reduce(processed, op='sum')
        self.accumulator.all_reduce()
        stats = self.accumulator.patterns(self.sign_rule)
        classes = list(self.dataset_meta['classes'])
        stats['meta'] = dict(
            feature_layer=self.feature_layer,
            classes=classes,
            sign_rule=self.sign_rule,
            dim=self.accumulator.dim,
            total_images=int(processed))
        lines = [
            f'Class patterns of {self.feature_layer} (d='
            f'{self.accumulator.dim}, {int(processed)} images, sign rule '
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
        if self.output_dir is not None and is_main_process():
            os.makedirs(self.output_dir, exist_ok=True)
            path = osp.join(self.output_dir, 'class_patterns.pth')
            buf = io.BytesIO()
            torch.save(stats, buf)
            atomic_write_bytes(path, buf.getvalue())
            lines.append(f'class patterns written to {path}')
        print_log('\n' + '\n'.join(lines), logger=logger)
        explained = stats['explained'][stats['count'] > 0]
        metrics: Dict[str, float] = OrderedDict(
            num_images=float(int(processed)),
            classes_without_images=float(len(empty)),
            mean_explained_variance=round(
                100 * float(explained.mean()), 2) if len(explained) else 0.0)
        self.accumulator = None
        self.num_processed = 0
        prefix = self.prefix
        return {f'{prefix}/{k}' if prefix else k: v
                for k, v in metrics.items()}

    def compute_metrics(self, results: list) -> dict:  # pragma: no cover
        """Not used: :meth:`evaluate` reduces the sums itself."""
        return {}
