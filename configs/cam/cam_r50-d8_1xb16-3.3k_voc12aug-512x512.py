# CAM baseline with ResNet-50 at output stride 8 (last two stages dilated).
_base_ = './cam_r50-d16_1xb16-3.3k_voc12aug-512x512.py'
model = dict(backbone=dict(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)))
