# SPML's classifier round for image tags on the MSRC-21 photographs: the
# softmax classifier retrained on the frozen embedding of
# spml-tags_r18w32-d16_1xb16-2.2k_msrc21-96x96.py against the round-1
# pseudo masks, 1,100 iterations of 16 crops (half the embedding's, as the
# synthetic round-2 config), then the round-2 masks (the classifier's
# softmax, one transition on the embedding's affinity, no CRF). See
# spml-tags-round2_r18w32-d8_1xb16-300_synthetic-96x96.py for the method
# and configs/pipelines/_base_/spml-tags-deeplabv2.py for the stages.
_base_ = ['./spml-tags_r18w32-d16_1xb16-2.2k_msrc21-96x96.py']
model = dict(
    train_stage='classifier', test_cfg=dict(seed='softmax', num_iters=1))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWSSSAnnotations'),
    dict(
        type='RandomResize',
        scale=(320, 320),
        ratio_range=(0.3, 1.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=(96, 96)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
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
            # no real folder on purpose: the pipeline sets the round-1
            # pseudo masks (the ground truth would make it fully supervised)
            seg_map_path='SET_TO_THE_ROUND1_PSEUDO_MASKS'),
        file_suffixes=dict(_delete_=True),
        pipeline=train_pipeline))
test_dataloader = dict(
    dataset=dict(file_suffixes=dict(_delete_=True), pipeline=test_pipeline))
max_iters = 1100
train_cfg = dict(max_iters=max_iters, val_interval=max_iters + 1)
default_hooks = dict(checkpoint=dict(interval=200, max_keep_ckpts=1))
