# Layer ablation of Luo & Yang on the synthetic set: the features of
# backbone.layer3.1;
# everything else as in classpattern-c41_r18w32-d8_1xb16-600_synthetic-96x96.py.
_base_ = ['./classpattern-c41_r18w32-d8_1xb16-600_synthetic-96x96.py']
model = dict(feature_layer='backbone.layer3.1')
