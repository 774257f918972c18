# IRN's semantic refiner on MS COCO 2014 train (82,081 images, 81 classes
# with background): the VOC settings of
# ./irn_r50-s16_1xb32-990_voc12aug-512x512.py for 3 epochs (7,700
# iterations at batch 32). Test images up to 640 px are padded per image
# (test_cfg.size_divisor), not to IRN's fixed 512, which would crop them.
_base_ = ['./irn_r50-s16_1xb32-990_voc12aug-512x512.py']
dataset_type = 'WSSSCOCODataset'
data_root = 'data/coco2014'
model = dict(boundary_head=dict(num_classes=81))
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/train2014.txt',
        data_prefix=dict(img_path='train2014'),
        cls_label_file='cls_labels_train2014.npy',
        label_source='file',
        file_suffixes=dict(cam_path='.npz'),
        pipeline={{_base_.train_pipeline}}))
test_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='ImageSets/train2014.txt',
        data_prefix=dict(
            img_path='train2014',
            seg_map_path='SegmentationClass81/train2014'),
        cls_label_file='cls_labels_train2014.npy',
        file_suffixes=dict(cam_path='.npz'),
        pipeline={{_base_.test_pipeline}}))
max_iters = 7700
param_scheduler = [
    dict(type='PolyLR', power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
default_hooks = dict(checkpoint=dict(interval=max_iters))
