# Copyright (c) OpenMMLab. All rights reserved.
"""Draw grids image | class maps | pseudo mask | ground truth by hand.

Every test pass draws such a grid of 8 seeded images by itself
(``MaskGridHook``, in every config's ``custom_hooks``); this tool draws
more images, or a folder of masks from elsewhere, with the same code.

Reads the outputs of a stage-2 run (``tools/test.py`` with a CAM config:
``<pseudo-dir>/<id>.png`` and, with ``PredictionWriterHook(save_maps=True)``,
``<pseudo-dir>/cams/<id>.npz``) and the images and masks of the config's
test dataset, and writes ``grid_000.png``, ``grid_001.png``... with
``--per-grid`` samples each.

Example::

    python tools/analysis_tools/cam_grid.py \\
        configs/cam/cam_r18w32-d8_1xb16-600_synthetic-96x96.py \\
        work_dirs/cam_syn/predictions --out-dir work_dirs/cam_syn/grids
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar
from PIL import Image

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
from mmwsss.apis import set_data_root  # noqa: E402
from mmwsss.engine import image_id  # noqa: E402
from mmwsss.visualization import (GRID_COLUMNS, load_cams,  # noqa: E402
                                  make_grid, make_grid_row, panel_starts)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the config used for stage 2')
    parser.add_argument('pseudo_dir', help='directory of the pseudo masks')
    parser.add_argument('--out-dir', help='defaults to <pseudo_dir>/grids')
    parser.add_argument('--num', type=int, default=16, help='samples drawn')
    parser.add_argument('--per-grid', type=int, default=8)
    parser.add_argument('--height', type=int, default=160, help='row height')
    parser.add_argument(
        '--split',
        default='test',
        choices=['train', 'val', 'test'],
        help='which dataloader of the config lists the images')
    parser.add_argument('--data-root', help='override the data root')
    parser.add_argument('--seed', type=int, default=0, help='sample choice')
    return parser.parse_args(argv)


def main(argv=None):
    """Draw the grids of the command line ``argv`` (default:
    ``sys.argv[1:]``)."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.data_root:
        set_data_root(cfg, args.data_root)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    from mmseg.registry import DATASETS
    ds_cfg = cfg[f'{args.split}_dataloader']['dataset']
    ds_cfg['pipeline'] = []
    dataset = DATASETS.build(ds_cfg)
    palette = dataset.metainfo['palette']
    out_dir = args.out_dir or osp.join(args.pseudo_dir, 'grids')
    os.makedirs(out_dir, exist_ok=True)
    done = [
        i for i in range(len(dataset)) if osp.isfile(
            osp.join(args.pseudo_dir,
                     image_id(dataset.get_data_info(i)) + '.png'))
    ]
    if not done:
        raise FileNotFoundError(
            f'no pseudo masks of the {args.split} dataset in '
            f'{args.pseudo_dir}')
    rng = np.random.default_rng(args.seed)
    chosen = sorted(rng.choice(done, min(args.num, len(done)),
                               replace=False))
    cam_dir = osp.join(args.pseudo_dir, 'cams')
    classes = dataset.metainfo['classes']
    loaded = {}
    for idx in chosen:
        name = image_id(dataset.get_data_info(int(idx)))
        loaded[name] = load_cams(cam_dir, name, with_labels=True)
    maps_width = max([1] + [len(v[0]) for v in loaded.values() if v])
    rows, titles, written = [], [], []
    bar = ProgressBar(len(chosen))
    for k, idx in enumerate(chosen):
        info = dataset.get_data_info(int(idx))
        name = image_id(info)
        image = np.asarray(Image.open(info['img_path']).convert('RGB'))
        pseudo = np.asarray(
            Image.open(osp.join(args.pseudo_dir, name + '.png')))
        gt = np.asarray(Image.open(info['seg_map_path'])) \
            if info.get('seg_map_path') else None
        cams, names = None, None
        if loaded[name] is not None:
            cams, labels = loaded[name]
            names = [classes[c] for c in labels]
        rows.append(
            make_grid_row(image, cams, pseudo, gt, palette, args.height,
                          cam_names=names, maps_width=maps_width))
        names = [classes[c] for c in info['img_labels']]
        titles.append(f"{name}: {', '.join(names) or 'background only'}")
        if len(rows) == args.per_grid or k == len(chosen) - 1:
            path = osp.join(out_dir, f'grid_{len(written):03d}.png')
            starts = panel_starts(args.height, [1, maps_width, 1, 1])
            Image.fromarray(make_grid(rows, titles, GRID_COLUMNS,
                                      starts)).save(path)
            written.append(path)
            rows, titles = [], []
        bar.update()
    print(f'\nwrote {len(written)} grid(s) to {out_dir}')


if __name__ == '__main__':
    main()
