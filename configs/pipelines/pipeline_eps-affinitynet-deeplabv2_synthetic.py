# EPS -> AffinityNet -> DeepLab-v2 on the embedded synthetic dataset (CPU):
#   python tools/run_pipeline.py \
#       configs/pipelines/pipeline_eps-affinitynet-deeplabv2_synthetic.py
# classifier: EPS (C + 1 maps + saliency loss), the CAM baseline's backbone
# and budget (600 iterations); pseudo_masks: EPS maps on the train split,
# threshold 0.20, maps saved; refinement_train: AffinityNet on confident
# masks from those maps; refinement: random walk (beta 8, t 64) of the same
# maps; segmentation: DeepLab-v2 on the refined masks; test / test_tta.
# The graph: ./_base_/affinitynet-deeplabv2.py.
_base_ = ['./_base_/affinitynet-deeplabv2.py']
configs = dict(
    classifier='../eps/eps_r18w32-d8_1xb16-600_synthetic-96x96.py',
    refiner='../affinitynet/affinitynet_r18w32-d8_1xb16-600_synthetic-96x96.py',
    segmentation='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py')
