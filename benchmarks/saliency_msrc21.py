# Copyright (c) OpenMMLab. All rights reserved.
"""Unsupervised saliency maps as foreground detectors on MSRC-21; writes JSON.

For each method of :mod:`mmwsss.utils.saliency` the maps of the train + val
images (``trainval.txt``) are written with ``tools/misc/make_saliency.py`` into
``<sal-root>/msrc_sal_<method>`` (kept: an existing complete folder is
reused, the tool skips maps that exist) and scored against the ground truth:
the "object" pixels are the labels ``1..20`` of the VOC-remapped masks
(cow, sheep, aeroplane, person = face + body, car, bicycle, bird, chair,
cat, dog, boat, horse); label 0 (building, grass, tree, sky, mountain,
water, road, flower, sign, book) is background and 255 is ignored.

Reported per method, with the confusion counts summed over all pixels of
all images (dataset-level, so the 188 background-only images count through
their false positives):

- IoU, precision, recall (and F-beta with beta^2 = 0.3, the saliency
  literature's F-measure) of "map >= 0.5" (8-bit value >= 128);
- the same at the threshold of best IoU (searched over the 256 levels);
- MAE between the map and the binary object mask;
- the mean compute time per image of :func:`compute_saliency` (image
  already decoded, PNG writing excluded), measured in this process on
  ``--time-images`` images with OpenCV limited to one thread.

Two reference maps that use no image content are scored too: everything
salient, and a centre prior ``1 - r / r_max``.

Usage::

    python benchmarks/saliency_msrc21.py [DATA_ROOT] \\
        [--methods mbd ft] [--sal-root /tmp] [--workers 1] \\
        [--out benchmarks/results/saliency_msrc21.json]

``DATA_ROOT`` defaults to ``../shared/data/msrc21`` relative to the
repository.
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time

import cv2
import numpy as np
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from mmwsss.utils.saliency import compute_saliency  # noqa: E402

TOOL = osp.join(ROOT, 'tools', 'misc', 'make_saliency.py')


def read_ids(data_root: str, splits) -> list:
    ids = []
    for split in splits:
        path = osp.join(data_root, 'ImageSets', 'Segmentation', split + '.txt')
        with open(path, encoding='utf-8') as f:
            ids += [line.strip() for line in f if line.strip()]
    return ids


def make_maps(data_root, splits, method, out_dir, workers) -> float:
    """Run the CLI on the split(s); returns its wall time in seconds."""
    seg = osp.join(data_root, 'ImageSets', 'Segmentation')
    list_file = osp.join(seg, splits[0] + '.txt')
    tmp = None
    if len(splits) > 1:  # the tool takes one list file
        tmp = list_file = osp.join(out_dir, '.bench_ids.txt')
        os.makedirs(out_dir, exist_ok=True)
        with open(list_file, 'w', encoding='utf-8') as f:
            f.write('\n'.join(read_ids(data_root, splits)) + '\n')
    t0 = time.perf_counter()
    subprocess.run([
        sys.executable, TOOL,
        osp.join(data_root, 'JPEGImages'), out_dir, '--method', method,
        '--list', list_file, '--workers',
        str(workers)
    ],
                   check=True)
    wall = time.perf_counter() - t0
    if tmp:
        os.remove(tmp)
    return wall


def load_gt(data_root, img_id) -> np.ndarray:
    return np.array(
        Image.open(osp.join(data_root, 'SegmentationClass', img_id + '.png')))


def center_prior(h, w) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    r = np.sqrt((yy - cy)**2 + (xx - cx)**2)
    return 1 - r / np.sqrt(cy**2 + cx**2)


class Scorer:
    """Histograms of 8-bit saliency values over object / background pixels."""

    def __init__(self):
        self.hist_fg = np.zeros(256, np.int64)
        self.hist_bg = np.zeros(256, np.int64)
        self.abs_err = 0.
        self.n_pix = 0

    def add(self, sal_u8: np.ndarray, gt: np.ndarray) -> None:
        if sal_u8.shape != gt.shape:
            raise ValueError(f'map {sal_u8.shape} vs mask {gt.shape}')
        valid = gt != 255
        fg = valid & (gt > 0)
        bg = valid & (gt == 0)
        self.hist_fg += np.bincount(sal_u8[fg], minlength=256)
        self.hist_bg += np.bincount(sal_u8[bg], minlength=256)
        s = sal_u8[valid].astype(np.float64) / 255
        self.abs_err += float(np.abs(s - fg[valid]).sum())
        self.n_pix += int(valid.sum())

    def at(self, level: int) -> dict:
        """Metrics of "value >= level" (level in 0..256)."""
        tp = int(self.hist_fg[level:].sum())
        fp = int(self.hist_bg[level:].sum())
        fn = int(self.hist_fg[:level].sum())
        prec = tp / (tp + fp) if tp + fp else 0.
        rec = tp / (tp + fn) if tp + fn else 0.
        iou = tp / (tp + fp + fn) if tp + fp + fn else 0.
        fb = (1.3 * prec * rec / (0.3 * prec + rec) if prec + rec else 0.)
        return dict(
            threshold=round(level / 255, 4),
            iou=round(iou, 4),
            precision=round(prec, 4),
            recall=round(rec, 4),
            f_beta=round(fb, 4),
            salient_fraction=round((tp + fp) / max(self.n_pix, 1), 4))

    def summary(self) -> dict:
        ious = [self.at(t)['iou'] for t in range(1, 256)]
        best = 1 + int(np.argmax(ious))
        return dict(
            at_0_5=self.at(128),
            best_iou=self.at(best),
            mae=round(self.abs_err / max(self.n_pix, 1), 4),
            object_pixel_fraction=round(
                int(self.hist_fg.sum()) / max(self.n_pix, 1), 4))


def time_method(data_root, ids, method, num) -> float:
    """Mean ms per image of compute_saliency on the first ``num`` ids."""
    imgs = [
        np.asarray(
            Image.open(osp.join(data_root, 'JPEGImages',
                                i + '.jpg')).convert('RGB'))
        for i in ids[:num]
    ]
    compute_saliency(imgs[0], method)  # warm-up
    t0 = time.perf_counter()
    for img in imgs:
        compute_saliency(img, method)
    return 1000 * (time.perf_counter() - t0) / len(imgs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'data_root',
        nargs='?',
        default=osp.join(ROOT, '..', 'shared', 'data', 'msrc21'))
    parser.add_argument('--methods', nargs='+', default=['mbd', 'ft'])
    parser.add_argument(
        '--splits',
        nargs='+',
        default=['trainval'],
        help='split files (default trainval = train + val)')
    parser.add_argument('--sal-root', default='/tmp')
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--time-images', type=int, default=100)
    parser.add_argument(
        '--out', default=osp.join(ROOT, 'benchmarks', 'results',
                                  'saliency_msrc21.json'))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    data_root = osp.abspath(args.data_root)
    ids = read_ids(data_root, args.splits)
    gts = {i: load_gt(data_root, i) for i in ids}
    result = dict(
        machine=dict(
            cpu_count=os.cpu_count(),
            platform=platform.platform(),
            opencv=cv2.__version__),
        time=time.strftime('%Y-%m-%d %H:%M:%S'),
        data_root=data_root,
        splits=args.splits,
        num_images=len(ids),
        foreground='labels 1..20 (VOC objects); 0 background; 255 ignored',
        note='UNSUPERVISED saliency (training-free); dataset-level '
        'pixel counts',
        methods={})
    for method in args.methods:
        out_dir = osp.join(args.sal_root, f'msrc_sal_{method}')
        wall = make_maps(data_root, args.splits, method, out_dir,
                         args.workers)
        scorer = Scorer()
        for i in ids:
            sal = np.array(Image.open(osp.join(out_dir, i + '.png')))
            scorer.add(sal, gts[i])
        entry = scorer.summary()
        entry.update(
            folder=out_dir,
            tool_wall_s_this_run=round(wall, 1),
            ms_per_image=round(
                time_method(data_root, ids, method, args.time_images), 1),
            timed_images=min(args.time_images, len(ids)))
        result['methods'][method] = entry
        print(method, json.dumps(entry, indent=1))
    for name in ('all_salient', 'center_prior'):
        scorer = Scorer()
        for i in ids:
            gt = gts[i]
            sal = (np.ones(gt.shape) if name == 'all_salient' else
                   center_prior(*gt.shape))
            scorer.add(np.rint(sal * 255).astype(np.uint8), gt)
        result['methods'][name] = dict(scorer.summary(), reference=True)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=2)
    print(f'-> {args.out}')
    rows = [('method', 'IoU@.5', 'P@.5', 'R@.5', 'best t', 'IoU', 'P', 'R',
             'ms/img')]
    for name, e in result['methods'].items():
        a, b = e['at_0_5'], e['best_iou']
        rows.append((name, a['iou'], a['precision'], a['recall'],
                     b['threshold'], b['iou'], b['precision'], b['recall'],
                     e.get('ms_per_image', '-')))
    for r in rows:
        print(''.join(f'{str(c):>13}' for c in r))


if __name__ == '__main__':
    main()
