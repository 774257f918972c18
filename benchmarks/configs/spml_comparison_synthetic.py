# SPML from each of its four weak labels next to the CAM baseline, on the
# embedded synthetic set at one budget (issue 15's results table; the
# paper's ordering is scribbles >= points, boxes > tags):
#   python benchmarks/seed_runs.py benchmarks/configs/spml_comparison_synthetic.py \
#       --seeds 0 1 2 --jobs 2 --out benchmarks/results/spml_comparison_synthetic.json
#
# The budget: every network is the half-width ResNet-18 from scratch at 600
# iterations of 16 images of 96 px with the CPU AdamW schedule: the CAM
# classifier, each SPML embedding (its auxiliary classifier trains with it)
# and each DeepLab-v2 of stage 3. The CAM classifier, its CAMs (which the
# tag and box labels are made of) and the region maps are computed once per
# seed and shared by the chains that read them. Pseudo masks are scored on
# the 300 train images (configured, oracle = GT-tuned background, GT-free =
# Otsu), final masks by DeepLab-v2 on the 100 val images (single scale).
# SPML's tag route is that of its pipeline
# (configs/pipelines/_base_/spml-tags-deeplabv2.py): the CAMs walked on the
# embedding, the nearest prototypes of the train set labelled by those
# masks (one scale, the CPU configs'), the classifier round on the frozen embedding (300
# iterations) and the nearest prototypes labelled by its masks. The box,
# point and scribble chains run no classifier round (the code's last
# classifier is DeepLab-v2 here): DeepLab-v2 trains on each chain's last
# masks, CAM's included (no CRF anywhere).
#
# Stages run chain by chain (scribbles, points, boxes, tags, then CAM's
# stage 3), so an interrupted seed resumes at the stage it stopped in.
_c = '../../configs/'
configs = dict(
    classifier=_c + 'cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py',
    segmentation=_c +
    'deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py',
    **{
        f'spml_{sup}':
        _c + f'spml/spml-{sup}_r18w32-d8_1xb16-600_synthetic-96x96.py'
        for sup in ('tags', 'boxes', 'points', 'scribbles')
    },
    spml_tags_round2=_c +
    'spml/spml-tags-round2_r18w32-d8_1xb16-300_synthetic-96x96.py')

_CAM_PATH = 'data_prefix.cam_path'
_SEG_MAP = 'train_dataloader.dataset.data_prefix.seg_map_path'


def _rows(prefix, label):
    return {
        f'{prefix}_mIoU': dict(metric='mIoU', label=f'{label}: configured'),
        f'{prefix}_oracle_mIoU':
        dict(metric='oracle_mIoU', label=f'{label}: oracle (GT-tuned)'),
        f'{prefix}_gt_free_mIoU':
        dict(metric='gt_free_mIoU', label=f'{label}: GT-free (Otsu)'),
    }


def _stage3(prefix, masks, label):
    """DeepLab-v2 on ``masks`` and its single-scale val test."""
    return {
        f'{prefix}_segmentation':
        dict(kind='train', config='segmentation', inputs={_SEG_MAP: masks}),
        f'{prefix}_test':
        dict(
            kind='test',
            config='segmentation',
            inputs=dict(checkpoint=f'{prefix}_segmentation.checkpoint'),
            report={
                f'{prefix}_val_mIoU':
                dict(metric='mIoU', label=f'{label}: val mIoU (DeepLab-v2)')
            }),
    }


def _spml(sup):
    """One SPML chain: embedding, its pseudo masks, stage 3."""
    emb_inputs = {'train_dataloader.dataset.data_prefix.region_path':
                  'regions.regions'}
    mask_inputs = dict(checkpoint=f'{sup}_embedding.checkpoint')
    if sup in ('tags', 'boxes'):  # labels made of the CAMs
        emb_inputs[f'train_dataloader.dataset.{_CAM_PATH}'] = 'cams.maps'
    if sup == 'tags':  # the CAMs seed the walk too
        mask_inputs[f'test_dataloader.dataset.{_CAM_PATH}'] = 'cams.maps'
    label = f'SPML, {sup}'
    stages = {
        f'{sup}_embedding':
        dict(kind='train', config=f'spml_{sup}', inputs=emb_inputs),
        f'{sup}_pseudo_masks':
        dict(
            kind='test',
            config=f'spml_{sup}',
            out=True,
            inputs=mask_inputs,
            report=_rows(f'{sup}', label)),
    }
    masks = f'{sup}_pseudo_masks.masks'
    if sup == 'tags':  # then the nearest prototypes, as the tag pipeline
        stages['tags_nn_masks'] = dict(
            kind='test',
            config='spml_tags',
            out=True,
            inputs=dict(
                mask_inputs, **{
                    'model.prototype_dataloader.dataset.data_prefix.'
                    'seg_map_path': masks
                }),
            cfg_options={
                'model.test_cfg.seed': 'prototypes',
                'model.test_cfg.num_iters': 0
            },
            report=_rows('tags_nn', 'SPML, tags, nearest prototypes'))
        # round 2: the classifier on the frozen embedding, its masks, the
        # nearest prototypes labelled by them
        stages['tags_classifier_round'] = dict(
            kind='train',
            config='spml_tags_round2',
            inputs={
                'load_from': 'tags_embedding.checkpoint',
                _SEG_MAP: 'tags_nn_masks.masks'
            })
        stages['tags_round2_masks'] = dict(
            kind='test',
            config='spml_tags_round2',
            out=True,
            inputs=dict(checkpoint='tags_classifier_round.checkpoint'),
            report=_rows('tags_round2', 'SPML, tags, round-2 classifier'))
        stages['tags_round2_nn_masks'] = dict(
            stages['tags_nn_masks'],
            inputs=dict(
                mask_inputs, **{
                    'model.prototype_dataloader.dataset.data_prefix.'
                    'seg_map_path': 'tags_round2_masks.masks'
                }),
            report=_rows('tags_round2_nn',
                         'SPML, tags, round-2 nearest prototypes'))
        masks = 'tags_round2_nn_masks.masks'
    stages.update(_stage3(sup, masks, label))
    return stages


stages = dict(
    classifier=dict(kind='train', config='classifier'),
    cams=dict(
        kind='test',
        config='classifier',
        out=True,  # the masks and the CAMs
        inputs=dict(checkpoint='classifier.checkpoint'),
        cfg_options={'model.test_cfg.crf': None},
        report=_rows('cam', 'CAM (tags)')),
    regions=dict(
        kind='oversegment',
        config='spml_scribbles',  # the train images (the same in each)
        split='train',
        algorithm='felzenszwalb',
        params=dict(min_size=20)),
    **_spml('scribbles'),
    **_spml('points'),
    **_spml('boxes'),
    **_spml('tags'),
    **_stage3('cam', 'cams.masks', 'CAM (tags)'),
)
seed = 0
repeat = 1
nproc = 1
data_root = None
