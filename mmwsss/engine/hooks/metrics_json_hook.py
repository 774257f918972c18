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

    Args:
        path (str): Where to write the JSON file.
    """

    priority = 'LOW'

    def __init__(self, path: str) -> None:
        self.path = path

    def after_val_epoch(self,
                        runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        if not is_main_process():
            return
        atomic_write_bytes(
            self.path,
            json.dumps(
                dict(iter=runner.iter, metrics=metrics_to_jsonable(metrics)),
                indent=2).encode())
