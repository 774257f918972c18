# SPML from labelled points on PASCAL VOC 2012 + aug: the model and
# schedule of spml-boxes_r101-d8_4xb4-30k_voc12aug-512x512.py. Weak label:
# points (data_prefix.point_path, '<id>.png' label maps) dilated by 6 (the
# code's dilate_6_0.0). Loss (code, VOC points): w 0.1 / 0.1 / 0.1, kappa
# 6 / 8 / 16; paper Table 5: w_A 1, w_C 1.0, w_I 1.0, batch 12 (the code:
# 16; here the paper's 4 x 3).
_base_ = ['./spml-boxes_r101-d8_4xb4-30k_voc12aug-512x512.py']
model = dict(
    loss=dict(sem_ann_weight=0.1, sem_occ_weight=0.1, img_sim_weight=0.1))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPointWeakLabel', num_classes=21, radius=6),
    dict(type='LoadRegionMap'),
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(0.5, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 512)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs', pixel_keys=('gt_weak_seg', 'gt_region_map')),
]
train_dataloader = dict(
    batch_size=3,
    dataset=dict(
        data_prefix=dict(
            _delete_=True,
            img_path='JPEGImages',
            point_path='Points',
            region_path='Regions'),
        file_suffixes=dict(_delete_=True, point_path='.png'),
        pipeline=train_pipeline))
