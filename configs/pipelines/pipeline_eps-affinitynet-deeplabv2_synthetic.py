# EPS -> AffinityNet -> DeepLab-v2 on the embedded synthetic dataset (CPU):
#   python tools/run_pipeline.py \
#       configs/pipelines/pipeline_eps-affinitynet-deeplabv2_synthetic.py
# 1. classifier: EPS (C + 1 maps + saliency loss), the CAM baseline's
#    backbone and budget (600 iterations)
# 2. pseudo_masks: EPS maps on the train split, threshold 0.20, CAMs saved
# 3. refinement_train: AffinityNet on confident masks from those CAMs
# 4. refinement: random walk (beta 8, t 256) of the same CAMs
# 5. segmentation: DeepLab-v2 on the refined masks; test / test_tta on val.
# Keys: see mmwsss/apis/pipeline.py.
classifier = dict(config='../eps/eps_r18w32-d8_1xb16-600_synthetic-96x96.py')
pseudo_masks = dict(crf='none')
refinement = dict(
    train_config='../affinitynet/'
    'affinitynet_r18w32-d8_1xb16-600_synthetic-96x96.py')
segmentation = dict(
    config='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py',
    tta=True,
    crf=None)
seed = 0
repeat = 1
nproc = 1
data_root = None
