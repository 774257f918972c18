# Copyright (c) OpenMMLab. All rights reserved.
"""Generate the synthetic WSSS dataset in PASCAL VOC layout.

Example::

    python tools/misc/make_synthetic_dataset.py data/synthetic_wsss \\
        --num-train 300 --num-val 100 --image-size 96 --seed 0
"""
import argparse
import json
import os.path as osp
import sys

try:
    from mmwsss.datasets.synthetic import generate_synthetic_wsss
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..',
                                            '..')))
    from mmwsss.datasets.synthetic import generate_synthetic_wsss


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the deterministic synthetic WSSS dataset')
    parser.add_argument('out_dir', help='root directory of the dataset')
    parser.add_argument(
        '--num-train', type=int, default=300, help='number of train images')
    parser.add_argument(
        '--num-val', type=int, default=100, help='number of val images')
    parser.add_argument(
        '--image-size', type=int, default=96, help='side of the images')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace an existing dataset generated with other parameters')
    return parser.parse_args(argv)


def format_summary(meta: dict) -> str:
    """A short table of the image counts per split and class.

    Args:
        meta (dict): The content of the dataset's ``meta.json``.

    Returns:
        str: One line per split.
    """
    lines = []
    for split in ('train', 'val', 'trainval'):
        info = meta['splits'][split]
        counts = ', '.join(f'{name}={count}' for name, count in zip(
            meta['classes'], (info['class_image_counts'][c]
                              for c in meta['classes'])))
        lines.append(f'{split}: {info["num_images"]} images '
                     f'({info["num_background_only"]} background-only); '
                     f'images per class: {counts}')
    return '\n'.join(lines)


def main(argv=None) -> None:
    """Generate from the command line ``argv`` (default:
    ``sys.argv[1:]``); exit with a message on a bad argument."""
    args = parse_args(argv)
    try:
        out_dir = generate_synthetic_wsss(
            args.out_dir,
            num_train=args.num_train,
            num_val=args.num_val,
            image_size=args.image_size,
            seed=args.seed,
            overwrite=args.overwrite)
    except ValueError as e:
        sys.exit(f'error: {e}')
    with open(osp.join(out_dir, 'meta.json'), encoding='utf-8') as f:
        meta = json.load(f)
    print(format_summary(meta))
    print(f'synthetic WSSS dataset: {osp.abspath(out_dir)}')


if __name__ == '__main__':
    main()
