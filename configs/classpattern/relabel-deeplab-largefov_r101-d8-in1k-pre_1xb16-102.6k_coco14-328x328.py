# The relabel pass of a retraining round (Luo & Yang, AAAI 2020) for the
# DeepLab-LargeFOV of the _base_ config: that segmentor (its checkpoint loads
# unchanged into RelabelSegmentor.module) predicts the TRAIN split (train2014),
# and its labels fill the ignored (255) pixels of the masks it was trained on
# (fill='uncertain'; 'all' replaces them). The filled masks are written by
# tools/test.py --out and scored against the ground truth
# (SegmentationClass81/train2014) (mIoU, filled_pct, prev_ignored_pct,
# changed_pct):
#   python tools/test.py THIS SEG_CKPT --out NEXT_MASKS --cfg-options \
#       test_dataloader.dataset.data_prefix.prev_mask_path=$PWD/PREV_MASKS
# Single scale, no CRF, batch 1; a killed pass resumes (ResumableTestLoop).
_base_ = [
    '../deeplab-largefov/deeplab-largefov_r101-d8-in1k-pre_1xb16-102.6k_coco14-328x328.py'  # noqa
]
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
        ann_file='ImageSets/train2014.txt',
        data_prefix=dict(
            img_path='train2014',
            seg_map_path='SegmentationClass81/train2014',
            # the previous round's masks (default: the masks the
            # segmentor was trained on)
            prev_mask_path={{_base_.train_dataloader.dataset.data_prefix.seg_map_path}}),  # noqa
        cls_label_file='cls_labels_train2014.npy',
        label_source='file',
        pipeline=relabel_pipeline))
test_evaluator = dict(
    _delete_=True, type='RelabelMetric', iou_metrics=['mIoU'])
test_cfg = dict(type='ResumableTestLoop')
