# The plain CAM baseline refined by AffinityNet (PSA's original chain):
# AffinityNet refines the CAMs of any method, not only EPS's.
#   python tools/run_pipeline.py \
#       configs/pipelines/pipeline_cam-affinitynet-deeplabv2_synthetic.py
classifier = dict(config='../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py')
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
