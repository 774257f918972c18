# Copyright (c) OpenMMLab. All rights reserved.
"""Pipeline stage kinds of the methods (registered in ``STAGE_KINDS``).

The pipeline runner (:mod:`mmwsss.apis.pipeline`) knows only the generic
``train`` and ``test`` kinds; a method that needs another step in its chain
registers a kind here, from outside the runner. Importing :mod:`mmwsss`
imports this package, so every process that reads a pipeline config (it
imports :mod:`mmwsss.apis.pipeline`, hence :mod:`mmwsss`) knows them.

- ``oversegment`` (SPML): the region maps of a stage config's dataset
  split, by ``tools/dataset_converters/oversegment.py``;
- ``points_boxes`` (point and box supervision on datasets that have only
  masks): seeded point clicks and boxes of a stage config's dataset split,
  by ``tools/dataset_converters/masks_to_points_boxes.py``.
"""
from .oversegment_stage import OversegmentStage
from .points_boxes_stage import PointsBoxesStage

__all__ = ['OversegmentStage', 'PointsBoxesStage']
