# Copyright (c) OpenMMLab. All rights reserved.
"""A progress bar for validation and test loops."""
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.utils import ProgressBar
from mmseg.registry import HOOKS

__all__ = ['ProgressBarHook']


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Show mmengine's :class:`~mmengine.utils.ProgressBar` in val/test.

    mmengine's ``LoggerHook`` prints a line every ``interval`` iterations;
    a pseudo-mask pass over thousands of images is easier to follow with a
    bar that shows the rate and the time left. The bar counts images of
    the main process's shard (batches times batch size).

    Args:
        val (bool): Show it for validation loops. Defaults to True.
        test (bool): Show it for test loops. Defaults to True.
    """

    priority = 'LOW'

    def __init__(self, val: bool = True, test: bool = True) -> None:
        self.val = val
        self.test = test
        self._bar: Optional[ProgressBar] = None

    def _start(self, loader) -> None:
        if is_main_process():
            self._bar = ProgressBar(len(loader))

    def _step(self) -> None:
        if self._bar is not None:
            self._bar.update()

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar.file.write('\n')
            self._bar.file.flush()
            self._bar = None

    def before_val_epoch(self, runner) -> None:
        """Start the bar."""
        if self.val:
            self._start(runner.val_dataloader)

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None) -> None:
        """Advance the bar."""
        self._step()

    def after_val_epoch(self, runner, metrics=None) -> None:
        """Close the bar."""
        self._stop()

    def before_test_epoch(self, runner) -> None:
        """Start the bar."""
        if self.test:
            self._start(runner.test_dataloader)

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None) -> None:
        """Advance the bar."""
        self._step()

    def after_test_epoch(self, runner, metrics=None) -> None:
        """Close the bar."""
        self._stop()
