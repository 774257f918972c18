# Copyright (c) OpenMMLab. All rights reserved.
"""Write the metrics of the latest validation to a JSON file."""
import json
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from mmwsss.utils.io import atomic_write_bytes

__all__ = ['MetricsJsonHook', 'metrics_to_jsonable']


def metrics_to_jsonable(metrics: Optional[Dict]) -> Dict:
    """Metric values as JSON numbers (rounded to 4 decimals), or strings."""
    out = {}
    for k, v in (metrics or {}).items():
        try:
            out[k] = round(float(v), 4)
        except (TypeError, ValueError):
            out[k] = str(v)
    return out


@HOOKS.register_module()
class MetricsJsonHook(Hook):
    """Save each validation's metrics, replacing the previous ones.

    ``runner.train()`` returns the model, not the metrics, and the log files
    mix metrics with everything else; ``tools/run_pipeline.py`` reads the
    classifier's and the segmenter's validation metrics from this file
    (``tools/train.py --metrics-json PATH`` adds the hook). The file is
    written atomically by the main process, as ``{"iter": i, "metrics":
    {...}}``; non-numeric values are stored as strings.

    The file always ends with the validation of the last iteration: a run
    that ends without one validates when training ends (``final_val``).
    That is the case of a run killed during its final validation (after
    the checkpoint of its last iteration was saved) and resumed: the
    resumed run has no iteration left, so mmengine's loop would not
    validate, and the file would be missing or hold an earlier
    validation's metrics.

    Args:
        path (str): Where to write the JSON file.
        final_val (bool): Validate when training ends without a validation
            of its last iteration (and the config has a ``val_cfg``).
            Defaults to True.
    """

    priority = 'LOW'

    def __init__(self, path: str, final_val: bool = True) -> None:
        self.path = path
        self.final_val = final_val
        self._val_iter: Optional[int] = None

    def after_val_epoch(self,
                        runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        self._val_iter = runner.iter
        if not is_main_process():
            return
        atomic_write_bytes(
            self.path,
            json.dumps(
                dict(iter=runner.iter, metrics=metrics_to_jsonable(metrics)),
                indent=2).encode())

    def after_train(self, runner) -> None:
        """Validate the last iteration when this run has not (resumed at
        its end)."""
        if not self.final_val or self._val_iter == runner.iter:
            return
        val_loop = runner.val_loop
        if val_loop is None:
            return
        from mmengine.runner import EpochBasedTrainLoop
        loop = runner.train_loop
        val_begin = getattr(loop, 'val_begin', 1)
        progress = runner.epoch if isinstance(
            loop, EpochBasedTrainLoop) else runner.iter
        if progress < val_begin:
            return
        runner.logger.info(
            f'MetricsJsonHook: no validation of iteration {runner.iter} in '
            'this run (e.g. resumed after its last iteration); validating '
            'now')
        val_loop.run()
