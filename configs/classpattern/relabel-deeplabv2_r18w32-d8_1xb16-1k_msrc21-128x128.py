# The relabel pass of a retraining round (Luo & Yang, AAAI 2020) for the
# DeepLab-v2 of ../deeplabv2/deeplabv2_r18w32-d8_1xb16-1k_msrc21-128x128.py:
# that segmentor (its checkpoint loads unchanged into RelabelSegmentor.module)
# predicts the TRAIN split (393 images), and its labels fill the ignored (255)
# pixels of the masks it was trained on (fill='uncertain'; 'all' replaces
# them). The filled masks are written by tools/test.py --out and scored against
# the ground truth (SegmentationClass) (mIoU, filled_pct, prev_ignored_pct,
# changed_pct):
#   python tools/test.py THIS SEG_CKPT --out NEXT_MASKS --cfg-options \
#       test_dataloader.dataset.data_prefix.prev_mask_path=$PWD/PREV_MASKS
# Single scale, no CRF, batch 1; a killed pass resumes (ResumableTestLoop).
_base_ = ['../deeplabv2/deeplabv2_r18w32-d8_1xb16-1k_msrc21-128x128.py']
model = dict(
    _delete_=True,
    type='RelabelSegmentor',
    module={{_base_.model}},
    fill='uncertain')
relabel_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),  # the ground truth, for the score
    dict(type='LoadLabelMap', key='prev_mask'),  # data_prefix.prev_mask_path
    dict(
        type='PackWSSSInputs',
        meta_keys=('img_path', 'seg_map_path', 'prev_mask_path', 'ori_shape',
                   'img_shape', 'pad_shape', 'scale_factor', 'flip',
                   'flip_direction', 'reduce_zero_label'),
        pixel_keys=('prev_mask', )),
]
test_dataloader = dict(
    batch_size=1,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(
            img_path='JPEGImages',
            seg_map_path='SegmentationClass',
            # the previous round's masks (default: the masks the
            # segmentor was trained on)
            prev_mask_path={{_base_.train_dataloader.dataset.data_prefix.seg_map_path}}),  # noqa
        # image labels from the masks (PackWSSSInputs packs them)
        label_source='mask',
        pipeline=relabel_pipeline))
test_evaluator = dict(
    _delete_=True, type='RelabelMetric', iou_metrics=['mIoU'])
test_cfg = dict(type='ResumableTestLoop')
