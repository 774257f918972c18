# Copyright (c) OpenMMLab. All rights reserved.
from .formatting import PackWSSSInputs
from .label_map import LoadLabelMap
from .loading import (CAMsToConfidentMask, LoadCAMs, LoadSaliencyMap,
                      LoadWSSSAnnotations)
from .region_map import LoadRegionMap
from .weak_labels import (WEAK_NOT_IN_IMAGE, WEAK_UNLABELLED,
                          LoadBoxWeakLabel, LoadPointWeakLabel,
                          LoadScribbleWeakLabel, TagsToWeakLabel)

__all__ = [
    'PackWSSSInputs', 'LoadWSSSAnnotations', 'LoadSaliencyMap', 'LoadCAMs',
    'CAMsToConfidentMask', 'LoadLabelMap', 'TagsToWeakLabel',
    'LoadBoxWeakLabel', 'LoadPointWeakLabel', 'LoadScribbleWeakLabel',
    'LoadRegionMap', 'WEAK_NOT_IN_IMAGE', 'WEAK_UNLABELLED'
]
