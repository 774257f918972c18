# Copyright (c) OpenMMLab. All rights reserved.
"""Put the repository root on ``sys.path`` so that the project package
imports as ``projects.puzzle_cam.puzzle_cam`` (``projects`` is a namespace
package: it has no ``__init__.py``), whichever way pytest is started."""
import os.path as osp
import sys

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
