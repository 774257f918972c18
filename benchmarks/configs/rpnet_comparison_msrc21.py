# RPNet against the CAM baseline, each with and without IRN's refinement, on
# the MSRC-21 photographs (issue 14's four rows on real images): the graph
# of ./rpnet_comparison_synthetic.py with the MSRC-21 configs, at one
# budget: the same half-width ResNet-18 classifier from scratch, 2,200
# iterations of 16 query images (RPNet adds one reference image per query:
# equal in optimiser steps and query images, not in forward passes); IRN on
# the frozen backbone of the classifier it refines, 600 iterations. Scored
# on the 393 train images. Single runs are allowed here (label them so):
#   python benchmarks/seed_runs.py benchmarks/configs/rpnet_comparison_msrc21.py \
#       --seeds 0 --data-root ../shared/data/msrc21 \
#       --out benchmarks/results/rpnet_comparison_msrc21.json
_base_ = ['./rpnet_comparison_synthetic.py']
_c = '../../configs/'
configs = dict(
    cam=_c + 'cam/cam_r18w32-d16_1xb16-2.2k_msrc21-96x96.py',
    rpnet=_c + 'rpnet/rpnet_r18w32-d16_1xb16-2.2k_msrc21-96x96.py',
    irn=_c + 'irn/irn_r18w32-d16_1xb16-600_msrc21-96x96.py')
