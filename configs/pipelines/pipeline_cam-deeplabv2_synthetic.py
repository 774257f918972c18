# The whole chain on the embedded synthetic dataset, on CPU in about 12
# minutes (2 cores):
#   python tools/run_pipeline.py configs/pipelines/pipeline_cam-deeplabv2_synthetic.py
# 1. classifier: half-width ResNet-18 CAM classifier, 600 iterations
# 2. pseudo_masks: multi-scale + flip CAMs on the train split, background
#    threshold 0.3, scored against the train masks (with the sweep table)
# 3. refinement: the same CAMs refined by the dense CRF (PSA parameters)
# 4. segmentation: DeepLab-v2 (ASPP-sum) half-width ResNet-18 trained on the
#    refined masks, 600 iterations
# 5. test / test_tta: val mIoU, single scale and multi-scale + flip.
# Keys: see mmwsss/apis/pipeline.py.
classifier = dict(config='../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py')
pseudo_masks = dict(crf='none')
# The CRF column of the sweep is not needed here: only the configured
# threshold is refined.
refinement = dict(crf='psa', cfg_options={'test_evaluator.crf_sweep': []})
segmentation = dict(
    config='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py',
    tta=True,
    crf=None)
seed = 0
repeat = 1
nproc = 1
data_root = None
