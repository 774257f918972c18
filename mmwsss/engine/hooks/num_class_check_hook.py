# Copyright (c) OpenMMLab. All rights reserved.
"""Check that the model and the datasets agree on the classes."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

__all__ = ['WSSSNumClassCheckHook']


@HOOKS.register_module()
class WSSSNumClassCheckHook(Hook):
    """Fail early when ``num_classes`` disagrees with a dataset's classes.

    mmseg has no such check (mmdet's ``NumClassCheckHook`` is for
    detectors); a mismatch would otherwise surface as a shape error deep in
    the loss, or not at all in the metric. The hook compares, before each
    loop, the model's foreground class count (``cam_head.num_classes`` of a
    CAM segmentor, or ``decode_head.num_classes - 1`` of a segmentor) with
    the ``classes`` of the loop's dataset (background included).
    """

    priority = 'VERY_HIGH'

    @staticmethod
    def _model_fg_classes(model):
        if is_model_wrapper(model):
            model = model.module
        if hasattr(model, 'cam_head'):
            return model.cam_head.num_classes, 'model.cam_head.num_classes'
        head = getattr(model, 'decode_head', None)
        if head is not None and hasattr(head, 'num_classes'):
            return head.num_classes - 1, 'model.decode_head.num_classes - 1'
        return None, None

    def _check(self, runner, loader, split: str) -> None:
        fg, key = self._model_fg_classes(runner.model)
        dataset = getattr(loader, 'dataset', None)
        classes = getattr(dataset, 'metainfo', {}).get('classes')
        if fg is None or not classes:
            return
        if fg != len(classes) - 1:
            raise ValueError(
                f'{key} = {fg}, but the {split} dataset '
                f'({type(dataset).__name__}) has {len(classes)} classes, '
                f'i.e. {len(classes) - 1} foreground classes: {classes}. '
                f'Set {key.split(" ")[0]} to match the dataset.')

    def before_train(self, runner) -> None:
        """Check the train dataset."""
        self._check(runner, runner.train_dataloader, 'train')

    def before_val(self, runner) -> None:
        """Check the val dataset."""
        self._check(runner, runner.val_dataloader, 'val')

    def before_test(self, runner) -> None:
        """Check the test dataset."""
        self._check(runner, runner.test_dataloader, 'test')
