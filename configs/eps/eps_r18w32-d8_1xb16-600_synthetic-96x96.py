# EPS on the embedded synthetic dataset, at exactly the budget of the CAM
# baseline configs/cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py (same
# half-width ResNet-18, 600 iterations, batch 16, AdamW, same augmentation)
# so that the two pseudo-mask numbers compare the methods, not the budgets.
# What changes: the head has C + 1 maps and the saliency loss (EPSHead), and
# the train pipeline loads the dataset's imperfect saliency maps
# (SaliencyImages/: blurred, objects missed with p=0.2, false-positive blobs
# with p=0.3). Pseudo masks: the baseline's scales (1.0, 1.5, 2.0) + flip
# (the images are 96 px), EPS's background threshold 0.20 (infer.py --thr).
_base_ = ['../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py']
model = dict(
    cam_head=dict(
        _delete_=True,
        type='EPSHead',
        in_channels=256,
        num_classes=5,
        # tau 0.4, lambda 0.5: EPS on VOC (README / script/voc12_eps.sh)
        loss_sal=dict(type='EPSLoss', tau=0.4, lam=0.5, loss_weight=1.0)),
    test_cfg=dict(bg=dict(type='threshold', thr=0.2)))
crop_size = (96, 96)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # before every geometric transform: it moves with the image
    dict(type='LoadSaliencyMap'),
    dict(
        type='RandomResize',
        scale=(96, 96),
        ratio_range=(0.75, 1.25),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    # the saliency map as a data field, its validity as a meta key
    dict(
        type='PackWSSSInputs',
        meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                   'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                   'reduce_zero_label', 'img_labels', 'saliency_valid'),
        pixel_keys=('gt_saliency', )),
]
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(
            img_path='JPEGImages',
            seg_map_path='SegmentationClass',
            saliency_path='SaliencyImages'),
        # a missing map is LoadSaliencyMap's to handle (its fallback)
        optional_files=('saliency_path', ),
        pipeline=train_pipeline))
