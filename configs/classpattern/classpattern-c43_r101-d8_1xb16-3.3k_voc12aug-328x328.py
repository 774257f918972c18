# Layer ablation of Luo & Yang (Table 1): the features of backbone.layer4.2
# (C4_3); everything else as in classpattern-c41_r101-d8_1xb16-3.3k_voc12aug-328x328.py.
_base_ = ['./classpattern-c41_r101-d8_1xb16-3.3k_voc12aug-328x328.py']
model = dict(feature_layer='backbone.layer4.2')
