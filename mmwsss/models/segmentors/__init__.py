# Copyright (c) OpenMMLab. All rights reserved.
from .affinity_net import AffinityNet
from .backbone_segmentor import BackboneSegmentor
from .cam_segmentor import CAMSegmentor
from .class_pattern_segmentor import (ClassPatternSegmentor,
                                      load_class_patterns)
from .crf_seg_tta import CRFSegTTAModel
from .irn import IRNet, resnet_taps
from .relabel_segmentor import RelabelSegmentor, fill_pseudo_mask
from .spml import SPMLSegmentor, batch_pixel_maps, embedding_random_walk

__all__ = [
    'BackboneSegmentor', 'CAMSegmentor', 'CRFSegTTAModel', 'AffinityNet',
    'ClassPatternSegmentor', 'load_class_patterns', 'RelabelSegmentor',
    'fill_pseudo_mask', 'IRNet', 'resnet_taps', 'SPMLSegmentor',
    'batch_pixel_maps', 'embedding_random_walk'
]
