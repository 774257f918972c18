# Copyright (c) OpenMMLab. All rights reserved.
"""mmwsss: weakly supervised semantic segmentation on mmsegmentation 1.x.

Importing the package registers every mmwsss module into mmsegmentation's
registries (``mmseg.registry.MODELS``, ``DATASETS``, ``TRANSFORMS``,
``METRICS``, ``HOOKS``, ``LOOPS``), so configs use them with
``custom_imports=dict(imports=['mmwsss'])`` and ``default_scope='mmseg'``.
It also makes mmengine checkpoints loadable under torch's
``weights_only=True`` default (see :mod:`mmwsss.utils.checkpoint`).
"""
import mmseg  # noqa: F401  (asserts the mmcv/mmengine versions it supports)

from .utils.checkpoint import _install_loader
from .version import __version__

_install_loader()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
