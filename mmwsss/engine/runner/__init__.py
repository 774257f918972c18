# Copyright (c) OpenMMLab. All rights reserved.
from .resumable_test_loop import ResumableTestLoop

__all__ = ['ResumableTestLoop']
