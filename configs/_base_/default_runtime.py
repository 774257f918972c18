# Runtime shared by every mmwsss config (mmseg's default_runtime plus the
# mmwsss plugin import and two hooks).
default_scope = 'mmseg'
custom_imports = dict(imports=['mmwsss'], allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo when no GPU is present.
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
# The hooks every mmwsss run has. A config that adds hooks of its own
# writes `custom_hooks = _base_.runtime_hooks + [...]` (mmengine replaces a
# list of a base config; it does not extend it).
runtime_hooks = [
    # Fails early when model.cam_head.num_classes disagrees with a dataset.
    dict(type='WSSSNumClassCheckHook'),
    # A progress bar over val/test images (pseudo-mask passes are long).
    dict(type='ProgressBarHook'),
    # After each test pass: a grid image | class maps | mask | ground truth
    # of 8 seeded images and the background-sweep curve, through the
    # visualizer's backends (vis_backends above; add
    # dict(type='TensorboardVisBackend') or dict(type='WandbVisBackend')).
    dict(type='MaskGridHook', num_images=8, seed=0),
]
custom_hooks = runtime_hooks
# mmseg's SegTTAModel (crf=None), keeping each sample's image id (img_id),
# which names the files PredictionWriterHook writes
tta_model = dict(type='CRFSegTTAModel', crf=None)
