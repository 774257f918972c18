# SPML from image tags on PASCAL VOC 2012 + aug: the model and schedule of
# spml-boxes_r101-d8_4xb4-30k_voc12aug-512x512.py. Weak label: CAMs with
# background (1 - max A)^6, confident argmax (score >= 0.2), the rest
# unlabelled (the code's cam/seam_a6_th0.2 from SEAM CAMs; set
# data_prefix.cam_path). Loss (code, VOC tags): w 0.3 / 0.3 / 0.1, kappa
# 6 / 8 / 16; paper Table 5: w_A 1, w_C 1.0, w_I 0.3.
# Pseudo masks (pseudo_camrw_crf.py): the same CAMs, background
# (1 - max A)^6, walked on the embedding, dense CRF (test_cfg.seed='cams':
# test_dataloader.dataset.data_prefix.cam_path too).
# Nearest prototypes (the code's prototype_msc.py and
# pseudo_inference_crf_msc.py, at the code's bank scales 0.5, 1 and 1.5
# for the bank and the labelling): a test pass with
# model.test_cfg.seed='prototypes' first fits the bank of labelled segment
# prototypes of the train_aug images (FitModelStateHook) labelled by the
# round-1 masks, which must be set as
# model.prototype_dataloader.dataset.data_prefix.seg_map_path (as the
# synthetic tag pipeline's stage nn_masks does). The classifier round has
# a CPU config only (spml-tags-round2_*_synthetic / _msrc21).
_base_ = ['./spml-boxes_r101-d8_4xb4-30k_voc12aug-512x512.py']
prototype_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='WSSSVOCDataset',
        data_root='data/VOCdevkit/VOC2012',
        ann_file='ImageSets/Segmentation/train_aug.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path=None),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadWSSSAnnotations'),
            dict(type='PackWSSSInputs'),
        ]))
model = dict(
    prototype_dataloader=prototype_dataloader,
    test_cfg=dict(
        seed='cams',
        cam_bg=dict(type='power', alpha=6),
        prototype_scales=(0.5, 1.0, 1.5)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    dict(type='TagsToWeakLabel', num_classes=21, alpha=6, threshold=0.2),
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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='PackWSSSInputs', algorithm_keys=('cams', 'cam_labels')),
]
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(
            _delete_=True, img_path='JPEGImages', region_path='Regions'),
        file_suffixes=dict(_delete_=True, cam_path='.npz'),
        pipeline=train_pipeline))
test_dataloader = dict(
    dataset=dict(
        file_suffixes=dict(cam_path='.npz'), pipeline=test_pipeline))
custom_hooks = _base_.custom_hooks + [dict(type='FitModelStateHook')]
