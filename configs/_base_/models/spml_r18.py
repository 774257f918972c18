# A small SPML embedding network for CPU runs: ResNet-18 trained from
# scratch, output stride 8, SPML's ASPP-sum head (here small rates: the CPU
# crops are 96 px, a 12 x 12 grid at stride 8, where the code's rates
# 6/12/18/24 would read mostly padding) upsampled x2 to stride 4, 64-d unit
# embeddings, the pixel-to-segment contrastive loss (the code's VOC tag
# weights and concentrations, a 6 x 6 k-means grid, a memory of 2 batches)
# and the code's auxiliary softmax classifier on the detached embedding
# (its cross-entropy weighted by w_A, the code's rule).
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=32)
model = dict(
    type='SPMLSegmentor',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(3, ),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        style='pytorch',
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    embedding_head=dict(
        type='SPMLEmbeddingHead',
        in_channels=512,
        embed_dims=64,
        dilations=(1, 2, 3),
        scale_factor=2),
    loss=dict(
        type='PixelToSegmentContrastiveLoss',
        num_classes=21,
        sem_ann_weight=0.3,
        sem_occ_weight=0.3,
        img_sim_weight=0.1,
        sem_ann_concentration=6,
        sem_occ_concentration=8,
        img_sim_concentration=16,
        kmeans_grid=(6, 6),
        kmeans_iters=10,
        memory_size=2),
    classifier=dict(
        type='SPMLSoftmaxHead', embed_dims=64, num_classes=21, channels=128),
    # pseudo masks: the classifier's softmax walked on the embedding's
    # affinity exp(5 (cos - 1))^20, T^64 (pseudo_softmaxrw_crf.py), pairs
    # within 5 cells of the stride-4 grid
    test_cfg=dict(
        seed='softmax',
        labels='gt',
        flip=True,
        radius=5,
        concentration=5.0,
        beta=20.0,
        num_iters=64))
