# SPML's classifier round for image tags on PASCAL VOC 2012 + aug (the
# code's train_classifier.py; method notes 3.9): the softmax classifier
# retrained on the FROZEN embedding of
# spml-tags_r101-d8_4xb4-30k_voc12aug-512x512.py (train_stage='classifier',
# load_from = its checkpoint) against the round-1 pseudo masks of train_aug
# as gt_sem_seg: 4k iterations of 16 images on one GPU, SGD lr 3e-3 (poly
# 0.9), random scale 0.5-2.0, crop 512, flip. The code also applies random
# grayscale (p 0.3), Gaussian blur (p 0.5) and dropout 0.65 in the head;
# those are not configured here. Its test pass writes the round-2 masks:
# the classifier's softmax, one transition on the embedding's affinity
# (pseudo_softmax.py), no CRF.
# configs/pipelines/pipeline_spml-tags-deeplabv2_r101_voc12aug.py runs it
# as the stages classifier_round and round2_masks. seg_map_path names no
# real folder on purpose: the ground truth there would make it a fully
# supervised classifier.
_base_ = ['./spml-tags_r101-d8_4xb4-30k_voc12aug-512x512.py']
model = dict(
    train_stage='classifier',
    test_cfg=dict(seed='softmax', num_iters=1, crf=None))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=(512, 512)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    batch_size=16,
    dataset=dict(
        data_prefix=dict(
            _delete_=True,
            img_path='JPEGImages',
            seg_map_path='SET_TO_THE_ROUND1_PSEUDO_MASKS'),
        file_suffixes=dict(_delete_=True),
        pipeline=train_pipeline))
test_dataloader = dict(
    dataset=dict(file_suffixes=dict(_delete_=True), pipeline=test_pipeline))
max_iters = 4000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
default_hooks = dict(checkpoint=dict(interval=max_iters))
