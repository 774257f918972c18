# Copyright (c) OpenMMLab. All rights reserved.
"""IRN's random walk, sparse vs dense: time, peak memory, accuracy.

IRN (Ahn, Cho & Kwak, CVPR 2019, ``step/make_sem_seg_labels.py``) walks the
stride-4 CAMs of the image's classes on path-max affinities of its boundary
map: radius 5, ``A = a^beta`` with ``beta = 10`` plus self loops,
column-normalised ``T``, ``t = 256``. Its code builds the dense ``N x N``
``T`` and squares it 8 times, then ``x @ T``
(:func:`mmwsss.models.utils.dense_random_walk` does the same on the
unpadded grid; IRN builds it on the grid padded by the radius, 13,365 nodes
for a 375 x 500 image, then crops to 11,750); mmwsss's
:class:`~mmwsss.models.IRNet` applies a sparse ``T`` 256 times
(:func:`~mmwsss.models.utils.random_walk`).

This is ``benchmarks/random_walk_benchmark.py`` with IRN's settings and
IRN-like inputs (``--inputs irn``: a synthetic boundary map ``B``, path-max
affinities ``1 - max_path B``, scores ``U[0, 1) * (1 - B)``): a 94 x 125 grid
(a 375 x 500 VOC image at stride 4, N = 11,750), 2 classes (about the mean
number of classes of a VOC image), radius 5, beta 10, t = 256, each
implementation in its own subprocess for a clean peak memory. The dense
walk runs only with ``--dense``: at 94 x 125 it takes minutes and several
GB (two 552 MB matrices per squaring).

Usage::

    # the full comparison (minutes)
    python benchmarks/irn_walk_benchmark.py --dense
    # quick: sparse only, or a small grid with the dense check
    python benchmarks/irn_walk_benchmark.py
    python benchmarks/irn_walk_benchmark.py --dense --sizes 20x24 \\
        --out /tmp/irn_walk.json

Writes ``benchmarks/results/irn_walk.json`` (same fields as
``random_walk.json``; ``max_abs_diff`` and ``same_to_1e-4`` compare the
sparse and dense outputs).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import random_walk_benchmark  # noqa: E402

IRN_DEFAULTS = dict(
    sizes=['94x125'],
    classes=2,
    radius=5,
    beta=10.0,
    num_iters=256,
    inputs='irn',
    out='benchmarks/results/irn_walk.json')


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    dense = '--dense' in argv
    argv = [a for a in argv if a != '--dense']
    if not dense and '--skip-dense' not in argv:
        argv.append('--skip-dense')
    random_walk_benchmark.main(argv, defaults=IRN_DEFAULTS)


if __name__ == '__main__':
    main()
