# SPML from labelled points on the embedded synthetic dataset, CPU-sized
# (see spml-boxes_r18w32-d8_1xb16-600_synthetic-96x96.py for the model,
# schedule and the region-map prerequisite; no CAMs are needed).
#
# Weak label: the points of Points/*.png dilated by 6 px (the code's
# dilate_6_0.0 on VOC; the synthetic images are 96 px, so 3 here), the rest
# unlabelled (254). Loss: the code's VOC point setting (w_A / w_C / w_I =
# 0.1 / 0.1 / 0.1, kappa 6 / 8 / 16; paper Table 5: w_A 1, w_C 1.0,
# w_I 1.0, batch 12).
_base_ = ['./spml-boxes_r18w32-d8_1xb16-600_synthetic-96x96.py']
model = dict(
    loss=dict(sem_ann_weight=0.1, sem_occ_weight=0.1, img_sim_weight=0.1))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPointWeakLabel', num_classes=6, radius=3),
    dict(type='LoadRegionMap'),
    dict(
        type='RandomResize',
        scale=(96, 96),
        ratio_range=(0.75, 1.25),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=(96, 96)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs', pixel_keys=('gt_weak_seg', 'gt_region_map')),
]
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(
            _delete_=True,
            img_path='JPEGImages',
            seg_map_path='SegmentationClass',
            point_path='Points',
            region_path='Regions'),
        file_suffixes=dict(_delete_=True, point_path='.png'),
        pipeline=train_pipeline))
