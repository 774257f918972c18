# Copyright (c) OpenMMLab. All rights reserved.
"""Per-image result caches that let a killed test pass resume."""
import json
import os
import os.path as osp
from typing import Dict, Sequence

import numpy as np
from mmengine.dist import is_main_process

from mmwsss.utils.io import save_npz_atomic

__all__ = ['ImageResultCacheMixin']

STATS_DIR = '.stats'


class ImageResultCacheMixin:
    """Cache each image's metric result next to its written mask.

    The metrics that write one mask per image (``PseudoMaskMetric``,
    ``RelabelMetric``) save the image's result to
    ``output_dir/.stats/<image id>.npz`` (atomically, with the metric's
    ``signature``) after its PNG. :meth:`load_finished` then restores the
    results of a batch whose images are all finished, which is what
    :class:`~mmwsss.engine.ResumableTestLoop` asks before running the
    model. mmengine's ``BaseMetric`` has no notion of this.

    A class using it defines ``signature`` (a dict of the settings that
    change the cached results) and ``cache_keys`` (the names of a result's
    entries; string entries come back as ``str``), and calls
    :meth:`_make_cache_dir` once and :meth:`_save_result` per image.
    """

    cache_keys: Sequence[str] = ()

    @staticmethod
    def _image_id(sample: dict) -> str:
        return osp.splitext(osp.basename(sample['img_path']))[0]

    def _stats_path(self, sample: dict) -> str:
        return osp.join(self.output_dir, STATS_DIR,
                        self._image_id(sample) + '.npz')

    def _make_cache_dir(self) -> None:
        if self.output_dir and is_main_process():
            os.makedirs(osp.join(self.output_dir, STATS_DIR), exist_ok=True)

    def _save_result(self, sample: dict, result: Dict) -> None:
        if self.output_dir is not None:
            save_npz_atomic(
                self._stats_path(sample),
                signature=json.dumps(self.signature, sort_keys=True),
                **result)

    def load_finished(self, data_samples: Sequence) -> bool:
        """Restore cached results of a batch whose images are all finished.

        Args:
            data_samples (Sequence): The batch's (unprocessed) data samples;
                a TTA batch (views x images) is named by its first view.

        Returns:
            bool: True when every image had a cached result and its mask,
            which were then appended to ``results``; False (nothing
            appended) otherwise.
        """
        if self.output_dir is None:
            return False
        if data_samples and isinstance(data_samples[0], (list, tuple)):
            data_samples = data_samples[0]
        signature = json.dumps(self.signature, sort_keys=True)
        loaded = []
        for ds in data_samples:
            sample = ds.metainfo if hasattr(ds, 'metainfo') else ds
            path = self._stats_path(sample)
            png = osp.join(self.output_dir, self._image_id(sample) + '.png')
            if not (osp.isfile(path) and osp.isfile(png)):
                return False
            with np.load(path) as f:
                if str(f['signature']) != signature:
                    raise ValueError(
                        f'{path} was written with other '
                        f'{type(self).__name__} settings ({f["signature"]}) '
                        f'than the current ones ({signature}); use a new '
                        'output_dir or delete the old one')
                loaded.append({
                    k: str(f[k]) if f[k].dtype.kind == 'U' else f[k]
                    for k in self.cache_keys
                })
        self.results.extend(loaded)
        return True
