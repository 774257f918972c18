# Copyright (c) OpenMMLab. All rights reserved.
"""Puzzle-CAM (Jo & Yu, ICIP 2021) as an mmwsss project.

Importing the package registers :class:`PuzzleCAMSegmentor` into
``mmseg.registry.MODELS``; configs import it with
``custom_imports=dict(imports=['mmwsss', 'projects.puzzle_cam.puzzle_cam'])``
(the repository root must be on ``sys.path``, as ``tools/*.py`` make it).
"""
from .puzzle_cam_segmentor import PuzzleCAMSegmentor
from .puzzle_utils import (RE_LOSSES, RE_MASKS, alpha_at, merge_tiles,
                           reconstruction_loss, tile_images)

__all__ = [
    'PuzzleCAMSegmentor', 'tile_images', 'merge_tiles', 'reconstruction_loss',
    'alpha_at', 'RE_LOSSES', 'RE_MASKS'
]
