# Puzzle-CAM pseudo masks on the embedded synthetic dataset (CPU):
#   python tools/run_pipeline.py \
#       projects/puzzle_cam/configs/pipeline_puzzle-cam_synthetic.py
# The first two stages of the CAM chain (configs/pipelines/_base_/
# cam-deeplabv2.py) with the Puzzle-CAM classifier: classifier (600
# iterations) -> pseudo_masks (multi-scale + flip CAMs of the train split,
# scored with the background sweep, no CRF). The report keys are the CAM
# chain's, so results compare key by key with the CAM baseline (the `cam`
# rows of benchmarks/configs/pseudo_mask_comparison_synthetic.py use the
# same config, seeds and stages).
_base_ = ['../../../configs/pipelines/_base_/cam-deeplabv2.py']
configs = dict(classifier='puzzle-cam_r18w32-d8_1xb16-600_synthetic-96x96.py')
stages = dict(refinement=None, segmentation=None, test=None, test_tta=None)
