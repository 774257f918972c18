# SPML's classifier round for image tags on the embedded synthetic set (the
# code's train_classifier.py, then pseudo_softmax.py; method notes 3.9):
# the softmax classifier retrained on the FROZEN embedding of
# spml-tags_r18w32-d8_1xb16-600_synthetic-96x96.py (backbone and embedding
# head without gradient, in eval mode: train_stage='classifier') against the
# pseudo masks of round 1 as gt_sem_seg, 300 iterations of 16 crops (the
# code: 4k iterations with a 30k-iteration embedding); then its test pass
# writes the round-2 masks: the classifier's softmax of the background and
# the image's classes, one transition on the embedding's affinity
# (num_iters=1: pseudo_softmax.py's WALK_STEPS=0 is a single transition),
# no CRF.
#
# configs/pipelines/_base_/spml-tags-deeplabv2.py runs it as the stages
# classifier_round and round2_masks, with load_from = the embedding's
# checkpoint and data_prefix.seg_map_path = the round-1 masks. By hand:
#   python tools/train.py CONFIG --cfg-options load_from=EMBEDDING.pth \
#       train_dataloader.dataset.data_prefix.seg_map_path=$PWD/ROUND1_MASKS
# seg_map_path names no real folder here on purpose (the dataset's file
# check stops with an error naming it): the ground truth there would make
# it a fully supervised classifier.
_base_ = ['./spml-tags_r18w32-d8_1xb16-600_synthetic-96x96.py']
model = dict(
    train_stage='classifier', test_cfg=dict(seed='softmax', num_iters=1))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(
        type='RandomResize',
        scale=(96, 96),
        ratio_range=(0.75, 1.25),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=(96, 96)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackWSSSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(type='PackWSSSInputs'),
]
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(
            _delete_=True,
            img_path='JPEGImages',
            seg_map_path='SET_TO_THE_ROUND1_PSEUDO_MASKS'),
        file_suffixes=dict(_delete_=True),
        pipeline=train_pipeline))
test_dataloader = dict(
    dataset=dict(file_suffixes=dict(_delete_=True), pipeline=test_pipeline))
max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
default_hooks = dict(checkpoint=dict(interval=max_iters))
