# Copyright (c) OpenMMLab. All rights reserved.
"""A test loop that skips images a previous run already finished."""
from typing import Sequence, Union

from mmengine.logging import print_log
from mmengine.runner import TestLoop
from mmseg.registry import LOOPS

__all__ = ['ResumableTestLoop']


@LOOPS.register_module()
class ResumableTestLoop(TestLoop):
    """:class:`~mmengine.runner.TestLoop` that resumes a killed pass.

    Pseudo-mask generation over VOC ``train_aug`` or COCO takes hours; when
    it is killed, rerunning it should not redo the images it finished.
    mmengine's loop has no notion of that, so this loop asks each metric of
    the evaluator whether it can restore a batch from its own cache (the
    ``load_finished(data_samples) -> bool`` method of
    :class:`~mmwsss.evaluation.PseudoMaskMetric`). When every metric can,
    the model is not run for that batch; metrics without the method force
    the normal path. The final metrics cover all images, finished earlier
    or now.

    Args:
        runner: The runner.
        dataloader (dict | DataLoader): The test dataloader.
        evaluator (dict | list | Evaluator): The evaluator.
        fp16 (bool): Whether to use fp16 autocast. Defaults to False.
    """

    def __init__(self, runner, dataloader, evaluator: Union[dict, list],
                 fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        self.num_restored = 0

    def _restore(self, data_samples: Sequence) -> bool:
        metrics = self.evaluator.metrics
        if not metrics or not all(
                hasattr(m, 'load_finished') for m in metrics):
            return False
        # Check every metric first so that a partial restore never happens.
        restored = []
        for metric in metrics:
            before = len(metric.results)
            if not metric.load_finished(data_samples):
                for m, n in restored:
                    del m.results[n:]
                return False
            restored.append((metric, before))
        return True

    def run_iter(self, idx: int, data_batch: dict) -> None:
        """Restore the batch from the metrics' cache, or run the model."""
        if self._restore(data_batch['data_samples']):
            self.num_restored += len(data_batch['data_samples'])
            # Hooks still see the iteration (progress bars, loggers), with
            # no outputs.
            self.runner.call_hook(
                'before_test_iter', batch_idx=idx, data_batch=data_batch)
            self.runner.call_hook(
                'after_test_iter',
                batch_idx=idx,
                data_batch=data_batch,
                outputs=[])
            return
        super().run_iter(idx, data_batch)

    def run(self) -> dict:
        """Run the loop and report how many images were restored."""
        self.num_restored = 0
        metrics = super().run()
        if self.num_restored:
            print_log(
                f'ResumableTestLoop: {self.num_restored} image(s) were '
                'finished by an earlier run and restored from the cache',
                logger='current')
        return metrics
