# SPML from image tags on the MSRC-21 photographs, CPU-sized: the model,
# schedule and data of spml-points_r18w32-d16_1xb16-2.2k_msrc21-96x96.py
# with the tag label of spml-tags_r18w32-d8_1xb16-600_synthetic-96x96.py.
#
# Weak label (paper A.2, method notes 3.8): the CAMs of the MSRC-21 CAM
# baseline (configs/cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py, its test
# pass on the train split) for the image's classes, background
# (1 - max A)^6, the argmax where its score >= 0.2, the rest unlabelled.
# Loss: the code's VOC tag setting (w_A / w_C / w_I = 0.3 / 0.3 / 0.1,
# kappa 6 / 8 / 16; paper Table 5: 1 / 1.0 / 0.3). Pseudo masks: the same
# CAMs walked on the embedding's affinity (round 1 of the code's tag route).
# configs/pipelines/pipeline_spml-tags-deeplabv2_msrc21.py runs the chain
# (CAM classifier, its CAMs, regions, this config, DeepLab-v2).
_base_ = ['./spml-points_r18w32-d16_1xb16-2.2k_msrc21-96x96.py']
num_classes = 21
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
        type='WSSSVOCDataset',
        data_root='data/msrc21',
        label_source='mask',
        ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path=None),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadWSSSAnnotations'),
            dict(type='PackWSSSInputs'),
        ]))
model = dict(
    prototype_dataloader=prototype_dataloader,
    loss=dict(sem_ann_weight=0.3, sem_occ_weight=0.3, img_sim_weight=0.1),
    test_cfg=dict(seed='cams', cam_bg=dict(type='power', alpha=6)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCAMs'),
    dict(
        type='TagsToWeakLabel', num_classes=num_classes, alpha=6,
        threshold=0.2),
    dict(type='LoadRegionMap'),
    dict(
        type='RandomResize',
        scale=(320, 320),
        ratio_range=(0.3, 1.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=(96, 96)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
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
