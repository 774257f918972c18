# Copyright (c) OpenMMLab. All rights reserved.
from .cam_utils import (background_score, cams_to_label, cams_to_probs,
                        check_bg_rule, normalize_cams, power_to_threshold)
from .cfg_check import check_cfg_keys, check_cfg_types, merge_checked_cfg
from .class_pattern import (ClassPatternAccumulator, class_pattern_mask,
                            class_pattern_projections, leading_eigenpairs)
from .path_index import (PairPathIndex, pair_path, pair_path_index,
                         pair_paths, path_max_affinity)
from .postprocess import (POSTPROCESS_CFG_DEFAULTS, POSTPROCESS_CFG_KINDS,
                          DenseCRFStep, PseudoMaskPostProcessor,
                          read_image_at)
from .region_prototype import (RegionPrototypeModule, bernoulli_drop,
                               confident_mask, cosine_max_map,
                               gaussian_kernel, gaussian_smooth,
                               masked_average_pool, max_rescale)
from .prototype_labelling import (build_fit_dataloader, image_segments,
                                  labelled_segment_prototypes,
                                  neighbour_histograms)
from .random_walk import (affinity_pairs, dense_random_walk,
                          pair_displacements, random_walk)
from .segment_bank import (DifferentiableAllGather, SegmentMemoryBank,
                           all_gather_cat, is_distributed)
from .spherical_kmeans import (append_coordinates, grid_cluster_labels,
                               intersect_segments, segment_majority_label,
                               segment_prototypes, spherical_kmeans)

__all__ = [
    'normalize_cams', 'background_score', 'cams_to_label', 'cams_to_probs',
    'power_to_threshold', 'check_bg_rule', 'pair_displacements',
    'affinity_pairs', 'random_walk', 'dense_random_walk',
    'ClassPatternAccumulator', 'class_pattern_projections',
    'class_pattern_mask', 'leading_eigenpairs', 'DenseCRFStep',
    'PseudoMaskPostProcessor', 'POSTPROCESS_CFG_DEFAULTS',
    'POSTPROCESS_CFG_KINDS', 'read_image_at', 'merge_checked_cfg',
    'check_cfg_keys', 'check_cfg_types', 'RegionPrototypeModule',
    'confident_mask', 'masked_average_pool', 'bernoulli_drop',
    'cosine_max_map', 'gaussian_kernel', 'gaussian_smooth', 'max_rescale',
    'pair_path', 'pair_paths', 'PairPathIndex', 'pair_path_index',
    'path_max_affinity', 'grid_cluster_labels', 'append_coordinates',
    'spherical_kmeans', 'intersect_segments', 'segment_prototypes',
    'segment_majority_label', 'SegmentMemoryBank', 'DifferentiableAllGather',
    'all_gather_cat', 'is_distributed', 'image_segments',
    'labelled_segment_prototypes', 'neighbour_histograms',
    'build_fit_dataloader'
]
