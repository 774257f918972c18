# SPML from scribbles on the embedded synthetic dataset, CPU-sized (see
# spml-boxes_r18w32-d8_1xb16-600_synthetic-96x96.py for the model, schedule
# and the region-map prerequisite; no CAMs are needed).
#
# Weak label: the strokes of Scribbles/*.png dilated by 3 px (the code's
# scribble/dilate_3), the rest unlabelled (254). Loss: the code's VOC
# scribble setting (w_A / w_C / w_I = 1.0 / 0.5 / 0.1, kappa 6 / 12 / 16;
# paper Table 5: w_A 1, w_C 0.5, w_I 0.1, batch 12).
_base_ = ['./spml-boxes_r18w32-d8_1xb16-600_synthetic-96x96.py']
model = dict(
    loss=dict(
        sem_ann_weight=1.0,
        sem_occ_weight=0.5,
        img_sim_weight=0.1,
        sem_occ_concentration=12))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadScribbleWeakLabel', num_classes=6, radius=3),
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
            scribble_path='Scribbles',
            region_path='Regions'),
        file_suffixes=dict(_delete_=True, scribble_path='.png'),
        pipeline=train_pipeline))
