# SPML from image tags on the embedded synthetic dataset, CPU-sized (see
# spml-boxes_r18w32-d8_1xb16-600_synthetic-96x96.py for the model, schedule
# and the two prerequisites: the CAM baseline's CAMs and the region maps).
#
# Weak label (paper A.2, method notes 3.8): the CAMs of the image's classes
# with background (1 - max A)^6, the argmax where its score >= 0.2, the
# rest unlabelled (254) (TagsToWeakLabel: with alpha 6, 0.2 labels every
# pixel; the paper's exact rule is not released). Loss: the code's VOC tag
# setting (w_A / w_C / w_I = 0.3 / 0.3 / 0.1, kappa 6 / 8 / 16; paper
# Table 5: w_A 1, w_C 1.0, w_I 0.3).
#
# Pseudo masks (pseudo_camrw_crf.py, round 1 of the code's tag route): the
# same CAMs, background (1 - max A)^6, walked on the embedding's affinity
# (test_cfg.seed='cams'); tools/test.py needs the CAM folder too:
#   python tools/test.py CONFIG CKPT --out OUT --cfg-options \
#       test_dataloader.dataset.data_prefix.cam_path=$PWD/MASKS/cams
_base_ = ['./spml-boxes_r18w32-d8_1xb16-600_synthetic-96x96.py']
# Nearest-prototype labelling (the code's tag route after round 1:
# prototype_msc.py, pseudo_inference_crf_msc.py): a test pass with
# model.test_cfg.seed='prototypes' (and num_iters=0: no walk after it, as
# the code) first fits the bank of labelled segment prototypes on these
# training images (FitModelStateHook), labelled by the round-1 pseudo
# masks that the pipeline (stage `nn_masks`) sets as seg_map_path
prototype_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='SyntheticWSSSDataset',
        data_root='data/synthetic_wsss',
        generate=dict(num_train=300, num_val=100, image_size=96, seed=0),
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path=None),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadWSSSAnnotations'),
            dict(type='PackWSSSInputs'),
        ]))
model = dict(
    prototype_dataloader=prototype_dataloader,
    test_cfg=dict(seed='cams', cam_bg=dict(type='power', alpha=6)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    dict(type='TagsToWeakLabel', num_classes=6, alpha=6, threshold=0.2),
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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='PackWSSSInputs', algorithm_keys=('cams', 'cam_labels')),
]
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(
            _delete_=True,
            img_path='JPEGImages',
            seg_map_path='SegmentationClass',
            region_path='Regions'),
        file_suffixes=dict(_delete_=True, cam_path='.npz'),
        pipeline=train_pipeline))
test_dataloader = dict(
    dataset=dict(
        file_suffixes=dict(cam_path='.npz'), pipeline=test_pipeline))
custom_hooks = _base_.custom_hooks + [dict(type='FitModelStateHook')]
