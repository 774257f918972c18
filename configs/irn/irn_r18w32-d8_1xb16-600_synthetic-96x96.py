# IRN's semantic refiner on the embedded synthetic dataset, as a refiner of
# the CAMs of any method (CAM, EPS ...), like AffinityNet. CPU-sized: the
# half-width ResNet-18 of the CAM configs (output stride 8), frozen and
# initialised from the CAM classifier's checkpoint (IRN: a frozen ImageNet
# ResNet-50; there are no ImageNet weights here); the boundary head trains
# for 600 iterations.
#
# Training reads the CAMs saved by the pseudo-mask stage
# (data_prefix.cam_path: <folder>/<image id>.npz, see file_suffixes) and
# turns them into IRN's confident seeds: argmax over [0.30, CAMs] and over
# [0.05, CAMs], each through IRN's label CRF, foreground where the first
# says so, background where both do, uncertain elsewhere
# (step/cam_to_ir_label.py). Boundaries are learnt from pairs within radius
# 10 on the stride-4 grid (IRN). Testing refines the same CAMs by the random
# walk on path-max affinities (radius 5, beta 10, background 0.25 after the
# walk: IRN make_sem_seg_labels.py) and scores the masks on the train split
# with a threshold sweep. The walk length follows the grid, as for
# AffinityNet: IRN's t = 256 on a 94 x 125 grid (a 375 x 500 VOC image at
# stride 4, 11,750 nodes) spreads as far, relative to the image, as
# t = 256 * 576 / 11750 ~ 12.5 on this 24 x 24 grid, rounded to the power
# of two 16 (an a-priori choice, not tuned).
# The classifier checkpoint (the CAM config's default work_dir below), and
# the CAM folder, by hand:
#   python tools/train.py CONFIG --cfg-options \
#       model.backbone.init_cfg.checkpoint=CAM_WORK_DIR/iter_600.pth \
#       train_dataloader.dataset.data_prefix.cam_path=$PWD/MASKS/cams
#   python tools/test.py CONFIG CKPT --out OUT --cfg-options \
#       test_dataloader.dataset.data_prefix.cam_path=$PWD/MASKS/cams
# (a pipeline's train stage maps 'model.backbone.init_cfg.checkpoint' to
# 'classifier.checkpoint'). Testing loads the whole model from CKPT, the
# backbone included.
_base_ = [
    '../_base_/models/irn_r18.py', '../_base_/datasets/synthetic_cls.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_adamw-poly_cpu.py'
]
model = dict(
    backbone=dict(
        init_cfg=dict(
            checkpoint=('work_dirs/cam_r18w32-d8_1xb16-600_synthetic-96x96/'
                        'iter_600.pth'))),
    boundary_head=dict(num_classes=6),
    test_cfg=dict(num_iters=16))
crop_size = (96, 96)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    # IRN's seeds, on the image at the CAMs' size (before any resize)
    dict(type='CAMsToConfidentMask', fg_thr=0.30, bg_thr=0.05, crf='irn'),
    dict(
        type='RandomResize',
        scale=(96, 96),
        ratio_range=(0.75, 1.25),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    dict(type='LoadWSSSAnnotations'),
    # the saved CAMs as data fields (what the random walk refines)
    dict(type='PackWSSSInputs', algorithm_keys=('cams', 'cam_labels')),
]
train_dataloader = dict(
    dataset=dict(
        file_suffixes=dict(cam_path='.npz'), pipeline=train_pipeline))
test_dataloader = dict(
    dataset=dict(
        file_suffixes=dict(cam_path='.npz'), pipeline=test_pipeline))
# no validation: the refiner is judged by the masks it refines (test)
val_dataloader = None
val_evaluator = None
val_cfg = None
test_evaluator = dict(
    _delete_=True,
    type='PseudoMaskMetric',
    sweep=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
# no validation loop: run past the last iteration
train_cfg = dict(val_interval=601)
default_hooks = dict(
    visualization=dict(type='SegVisualizationHook', draw=False))
# testing writes the refined masks (tools/test.py --out DIR, default
# <work_dir>/predictions); the runtime's hooks (runtime_hooks), then this
# config's
custom_hooks = _base_.runtime_hooks + [
    dict(type='PredictionWriterHook'),
]
