# EPS on the MSRC-21 photographs, at exactly the budget of the CAM baseline
# configs/cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py (same backbone,
# 2,200 iterations, batch 16, crops, optimiser). MSRC has no saliency maps
# and no detector weights can be downloaded here, so the maps come from an
# UNSUPERVISED, training-free detector, the minimum barrier distance
# (mmwsss.utils.saliency, Zhang et al. ICCV 2015), made once with
#   python tools/misc/make_saliency.py DATA/JPEGImages DATA/SaliencyMBD \
#       --method mbd
# into a writable copy of the data root (or set
# train_dataloader.dataset.data_prefix.saliency_path to an absolute folder).
# These maps are much weaker than a trained detector's (IoU 0.40 with the
# object pixels at 0.5, benchmarks/results/saliency_msrc21.json).
_base_ = ['../cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py']
model = dict(
    cam_head=dict(
        _delete_=True,
        type='EPSHead',
        in_channels=256,
        num_classes=20,
        loss_sal=dict(type='EPSLoss', tau=0.4, lam=0.5, loss_weight=1.0)),
    test_cfg=dict(bg=dict(type='threshold', thr=0.2)))
crop_size = (96, 96)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadSaliencyMap'),
    dict(
        type='RandomResize',
        scale=(320, 320),
        ratio_range=(0.3, 1.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
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
            saliency_path='SaliencyMBD'),
        # a missing map is LoadSaliencyMap's to handle (its fallback)
        optional_files=('saliency_path', ),
        pipeline=train_pipeline))
