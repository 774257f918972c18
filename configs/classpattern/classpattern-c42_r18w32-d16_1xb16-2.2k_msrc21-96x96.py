# Layer ablation of Luo & Yang on MSRC-21: the features of backbone.layer4.1;
# everything else as in classpattern-c41_r18w32-d16_1xb16-2.2k_msrc21-96x96.py.
_base_ = ['./classpattern-c41_r18w32-d16_1xb16-2.2k_msrc21-96x96.py']
model = dict(feature_layer='backbone.layer4.1')
