# Luo & Yang (AAAI 2020) on the embedded synthetic dataset, on CPU (about
# 25 minutes on 2 cores):
#   python tools/run_pipeline.py configs/pipelines/pipeline_dcp-deeplabv2_synthetic.py
# 1. classifier: the CAM baseline (600 iterations)
# 2. class_patterns: per-class mean and first principal component of
#    layer3.1's features (c32: the best of the three layer choices on this
#    set, see the README)
# 3. pseudo_masks: Algorithm 1 on the train split (uncertain pixels
#    ignored), dense CRF (IRN label unary) on single-class images only
# 4. segmentation: DeepLab-v2 half-width ResNet-18 on those masks
# 5. retrain: the model predicts the train split, its labels fill the
#    uncertain pixels, and DeepLab-v2 is trained again from scratch
# 6. test / test_tta: val mIoU of the last model.
# the classifier is the CAM baseline's (same config, same checkpoint)
classifier = dict(config='../cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py')
# the pattern pass and the masks use the DCP config (same network)
class_patterns = dict(
    config='../dcp/dcp-c32_r18w32-d8_1xb16-600_synthetic-96x96.py')
pseudo_masks = dict(crf='irn')
refinement = None
segmentation = dict(
    config='../deeplabv2/deeplabv2_r18w32-d8_1xb16-600_synthetic-96x96.py',
    tta=True,
    crf=None)
retrain = dict(rounds=1, fill='uncertain')
seed = 0
repeat = 1
nproc = 1
data_root = None
