# Copyright (c) OpenMMLab. All rights reserved.
from .dense_crf import CRF_PRESETS, DenseCRF, build_dense_crf, dense_crf_map

__all__ = ['CRF_PRESETS', 'DenseCRF', 'build_dense_crf', 'dense_crf_map']
