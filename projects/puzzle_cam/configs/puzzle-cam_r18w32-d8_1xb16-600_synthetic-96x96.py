# Puzzle-CAM on the embedded synthetic dataset, at the budget of the CAM
# baseline it inherits: the same half-width ResNet-18 at output stride 8,
# data, augmentation, AdamW schedule (600 iterations, batch 16), CAM test
# settings and hooks. Only the model type and the puzzle options change.
# Each iteration runs the network on the full batch and on its 2x2 tiles,
# so a training step costs about twice the baseline's.
_base_ = ['../../../configs/cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py']
custom_imports = dict(
    imports=['mmwsss', 'projects.puzzle_cam.puzzle_cam'],
    allow_failed_imports=False)
model = dict(
    type='PuzzleCAMSegmentor',
    grid=2,
    # the official README's command (OFRIN/PuzzleCAM): L1, masked by the
    # image labels, alpha 4 reached linearly at half of training
    alpha=4.0,
    alpha_schedule=0.5,
    re_loss='l1',
    re_mask='labels',
    re_level='feature',
    # the backbone's output stride: merged tile maps align with the full map
    tile_size_divisor=8)
