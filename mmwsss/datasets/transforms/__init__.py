# Copyright (c) OpenMMLab. All rights reserved.
from .formatting import PackWSSSInputs
from .label_map import LoadLabelMap
from .loading import (CAMsToConfidentMask, LoadCAMs, LoadSaliencyMap,
                      LoadWSSSAnnotations)

__all__ = [
    'PackWSSSInputs', 'LoadWSSSAnnotations', 'LoadSaliencyMap', 'LoadCAMs',
    'CAMsToConfidentMask', 'LoadLabelMap'
]
