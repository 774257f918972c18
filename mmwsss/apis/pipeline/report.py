# Copyright (c) OpenMMLab. All rights reserved.
"""The results of a pipeline: mean and spread over seeds, printed table."""
from typing import Dict, List, Optional

import numpy as np

__all__ = ['summarise_runs', 'format_results']

_RUN_KEYS = ('seed', 'stage_metrics', 'stage_wall_time_s')


def summarise_runs(runs: List[dict],
                   labels: Optional[Dict[str, str]] = None) -> dict:
    """Mean and spread of every reported result over the runs of several seeds.

    With one run the top-level values are that run's; with several, each
    top-level result is the mean over the seeds, and ``summary`` has the
    mean, the sample standard deviation (``ddof=1``), min, max and the
    values. A result that a seed did not produce (None) is left out of its
    statistics.

    Args:
        runs (list[dict]): From :meth:`PipelineRunner.run_seed`.
        labels (dict, optional): Result key -> table label, in table order
            (default: the results of the first run, labelled by their key).

    Returns:
        dict: The content of ``results.json``.
    """
    if labels is None:
        labels = {k: k for k in runs[0] if k not in _RUN_KEYS}
    summary = {}
    for key in labels:
        values = [r[key] for r in runs if r.get(key) is not None]
        if not values:
            continue
        arr = np.asarray(values, dtype=np.float64)
        summary[key] = dict(
            mean=round(float(arr.mean()), 2),
            std=round(float(arr.std(ddof=1)), 2) if arr.size > 1 else 0.0,
            min=round(float(arr.min()), 2),
            max=round(float(arr.max()), 2),
            values=[round(float(v), 2) for v in values])
    results = dict(seed=runs[0]['seed'] if len(runs) == 1 else
                   [r['seed'] for r in runs])
    for key in labels:
        results[key] = summary[key]['mean'] if key in summary else None
    results['labels'] = dict(labels)
    stages = runs[0]['stage_wall_time_s'].keys()
    results['stage_wall_time_s'] = {
        s: round(float(np.mean([r['stage_wall_time_s'][s] for r in runs])), 1)
        for s in stages
    }
    results['summary'] = summary
    results['runs'] = runs
    return results


def format_results(results: dict) -> str:
    """The results as a plain-text table: one row per reported result.

    Rows are the results the pipeline config's stages report, under their
    labels; with several seeds a value is ``mean ± std``. Wall times of
    every stage follow.
    """
    n = len(results['runs'])
    labels = results.get('labels') or {}
    width = max([46] + [len(v) for v in labels.values()])
    head = f'| {"result":<{width}} | {"value":>14} |'
    lines = [
        '', f'WSSS pipeline results ({n} seed{"s" if n > 1 else ""}: '
        f'{results["seed"]})', head, '-' * len(head)
    ]
    for key, label in labels.items():
        value = results.get(key)
        if value is None:
            text = '-'
        elif n > 1:
            text = f'{value:.2f} ± {results["summary"][key]["std"]:.2f}'
        else:
            text = f'{value:.2f}'
        lines.append(f'| {label:<{width}} | {text:>14} |')
    lines.append('-' * len(head))
    for stage, secs in results['stage_wall_time_s'].items():
        lines.append(f'| {"wall time: " + stage:<{width}} | '
                     f'{secs:>12.1f} s |')
    lines.append(f'| {"wall time: all stages (sum, per seed)":<{width}} | '
                 f'{sum(results["stage_wall_time_s"].values()):>12.1f} s |')
    lines.append(f'| {"wall time: total (this invocation)":<{width}} | '
                 f'{results.get("total_wall_time_s", 0):>12.1f} s |')
    return '\n'.join(lines)
