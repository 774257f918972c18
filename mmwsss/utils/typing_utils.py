# Copyright (c) OpenMMLab. All rights reserved.
"""Type aliases shared by mmwsss modules (same names as ``mmseg.utils``)."""
from mmseg.utils import (ConfigType, ForwardResults, OptConfigType,
                         OptMultiConfig, OptSampleList, SampleList)

__all__ = [
    'ConfigType', 'OptConfigType', 'OptMultiConfig', 'SampleList',
    'OptSampleList', 'ForwardResults'
]
