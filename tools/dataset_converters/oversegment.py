# Copyright (c) OpenMMLab. All rights reserved.
"""Write an over-segmentation (region id maps) for SPML, once.

SPML (Ke et al., ICLR 2021) intersects its k-means clusters with a
low-level over-segmentation and uses it for its image-similarity relation.
The reference reads precomputed HED-owt-ucm regions (Matlab); this tool
writes a stand-in from a classical scikit-image algorithm
(:mod:`mmwsss.utils.oversegment`: ``felzenszwalb``, the default, or
``slic``), one PNG per image, read in the pipeline by ``LoadRegionMap``
(``data_prefix=dict(..., region_path=OUT_DIR)``).

Examples::

    # every image of a folder (or those of --list)
    python tools/dataset_converters/oversegment.py \\
        data/msrc21/JPEGImages data/msrc21/RegionsFelz \\
        --list data/msrc21/ImageSets/Segmentation/train.txt --workers 2

    # the images of a config's train (or val/test) dataset
    python tools/dataset_converters/oversegment.py CONFIG.py OUT_DIR \\
        --split train --algorithm slic --n-segments 150

Output ``OUT_DIR/<image id>.png``: 16-bit grey, the value is the region id
``0 .. K - 1`` (RGB, 24-bit, above 65,536 regions), written atomically. An
existing PNG is skipped, so an interrupted run resumes where it stopped.
``OUT_DIR/oversegment_meta.json`` records the algorithm, its parameters
and the source; a rerun with other settings into the same folder is
refused (``--overwrite`` recomputes every map instead).
"""
import argparse
import multiprocessing
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

try:
    import mmwsss  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..',
                                            '..')))

from mmwsss.utils.io import (read_json_if_exists,  # noqa: E402
                             write_json_atomic)
from mmwsss.utils.oversegment import (OVERSEGMENT_ALGORITHMS,  # noqa: E402
                                      OVERSEGMENT_DEFAULTS,
                                      _oversegment_job)
from mmwsss.version import __version__  # noqa: E402

__all__ = ['oversegment_folder', 'list_images', 'main', 'parse_args']

#: Version of this tool's output format; bump it when maps of earlier runs
#: would differ from what this version writes.
TOOL_VERSION = '1.0'
META_FILE = 'oversegment_meta.json'

#: command-line option -> (algorithm, parameter)
_PARAM_OPTIONS = {
    'scale': ('felzenszwalb', 'scale'),
    'sigma': (None, 'sigma'),
    'min_size': ('felzenszwalb', 'min_size'),
    'n_segments': ('slic', 'n_segments'),
    'compactness': ('slic', 'compactness'),
}


class OversegmentToolError(RuntimeError):
    """A failure of the tool that names its cause (file, argument)."""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write region id maps (felzenszwalb or SLIC '
        'over-segmentation) for SPML as 16-bit PNGs')
    parser.add_argument(
        'source', help='an image folder, or a config file (.py) whose '
        '<split>_dataloader.dataset lists the images')
    parser.add_argument('out_dir', help='folder of the PNG maps')
    parser.add_argument(
        '--algorithm',
        choices=OVERSEGMENT_ALGORITHMS,
        default='felzenszwalb',
        help='felzenszwalb (default: boundary-following regions of any '
        'size) or slic (compact superpixels of similar size)')
    parser.add_argument(
        '--scale', type=float, help='felzenszwalb scale (default 300)')
    parser.add_argument(
        '--sigma',
        type=float,
        help='Gaussian pre-smoothing (default 0.8 felzenszwalb, 0 slic)')
    parser.add_argument(
        '--min-size', type=int, help='felzenszwalb min_size (default 100)')
    parser.add_argument(
        '--n-segments', type=int, help='slic n_segments (default 100)')
    parser.add_argument(
        '--compactness', type=float, help='slic compactness (default 10)')
    parser.add_argument(
        '--list',
        dest='split_file',
        help='folder source: text file with one image id per line; '
        'default: every SOURCE/*SUFFIX file')
    parser.add_argument(
        '--suffix',
        default='.jpg',
        help='folder source: image file suffix (default .jpg)')
    parser.add_argument(
        '--split',
        choices=('train', 'val', 'test'),
        default='train',
        help='config source: which dataloader (default train)')
    parser.add_argument(
        '--workers', type=int, default=1, help='worker processes (default 1)')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='recompute every map, also those that exist, and accept a '
        'folder made with other settings')
    return parser.parse_args(argv)


def list_images(source: str,
                suffix: str = '.jpg',
                split_file: Optional[str] = None,
                split: str = 'train') -> List[Tuple[str, str]]:
    """``(image id, image path)`` of the images to process.

    Args:
        source (str): An image folder, or a config file (``.py``): the
            dataset of ``<split>_dataloader`` is built (without its
            pipeline) and its ``img_path``/``img_id`` are used (an mmwsss
            dataset's id; otherwise the file name without extension).
        suffix (str): Folder source: image suffix. Defaults to '.jpg'.
        split_file (str, optional): Folder source: one id per line.
            Defaults to None (every ``*suffix`` file, sorted).
        split (str): Config source: the dataloader. Defaults to 'train'.

    Returns:
        list[tuple[str, str]]: Without duplicates, in order.
    """
    if source.endswith('.py') and osp.isfile(source):
        return _images_of_config(source, split)
    if not osp.isdir(source):
        raise OversegmentToolError(
            f'{source} is neither an image folder nor a config file')
    if split_file is None:
        ids = sorted(
            name[:-len(suffix)] for name in os.listdir(source)
            if name.endswith(suffix) and not name.startswith('.'))
    else:
        if not osp.isfile(split_file):
            raise OversegmentToolError(f'id list {split_file} does not exist')
        with open(split_file, encoding='utf-8') as f:
            ids = [line.strip() for line in f if line.strip()]
    pairs = [(i, osp.join(source, i + suffix)) for i in ids]
    missing = [p for _, p in pairs if not osp.isfile(p)]
    if missing:
        raise OversegmentToolError(
            f'{len(missing)} image(s) are missing from {source}, e.g. '
            f'{missing[0]}')
    return pairs


def _images_of_config(path: str, split: str) -> List[Tuple[str, str]]:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    cfg = Config.fromfile(path)
    loader = cfg.get(f'{split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise OversegmentToolError(
            f'config {path} has no {split}_dataloader.dataset')
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset_cfg = dict(loader['dataset'])
    dataset_cfg['pipeline'] = []
    dataset = DATASETS.build(dataset_cfg)
    pairs, seen = [], set()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        img_path = info['img_path']
        img_id = info.get('img_id') or osp.splitext(
            osp.basename(img_path))[0]
        if img_id not in seen:
            seen.add(img_id)
            pairs.append((img_id, img_path))
    return pairs


def _check_meta(out_dir: str, algorithm: str, params: dict) -> None:
    """Refuse to mix maps of other settings into an existing folder."""
    try:
        old = read_json_if_exists(osp.join(out_dir, META_FILE))
    except ValueError as e:
        raise OversegmentToolError(str(e)) from e
    if old is None:
        return
    if (old.get('algorithm'), old.get('params'),
            old.get('tool_version')) != (algorithm, params, TOOL_VERSION):
        raise OversegmentToolError(
            f'{out_dir} holds {old.get("algorithm")!r} maps with parameters '
            f'{old.get("params")} (tool version {old.get("tool_version")}); '
            f'this run is {algorithm!r} with {params} (tool version '
            f'{TOOL_VERSION}). Use another folder or --overwrite')


def _write_meta(out_dir: str, meta: dict) -> None:
    write_json_atomic(osp.join(out_dir, META_FILE), meta)


def oversegment_folder(source: str,
                       out_dir: str,
                       algorithm: str = 'felzenszwalb',
                       params: Optional[Dict] = None,
                       split_file: Optional[str] = None,
                       suffix: str = '.jpg',
                       split: str = 'train',
                       workers: int = 1,
                       overwrite: bool = False,
                       progress: bool = True) -> dict:
    """Write the region map of every image; see the module doc.

    Args:
        source (str): Image folder or config file (:func:`list_images`).
        out_dir (str): Output folder (created).
        algorithm (str): ``'felzenszwalb'`` or ``'slic'``. Defaults to
            'felzenszwalb'.
        params (dict, optional): Parameters overriding the algorithm's
            defaults (:data:`~mmwsss.utils.oversegment.
            OVERSEGMENT_DEFAULTS`). Defaults to None.
        split_file (str, optional): Folder source: id list.
        suffix (str): Folder source: image suffix. Defaults to '.jpg'.
        split (str): Config source: dataloader. Defaults to 'train'.
        workers (int): Worker processes. Defaults to 1.
        overwrite (bool): Recompute existing maps and accept a folder of
            other settings. Defaults to False.
        progress (bool): Show an mmengine progress bar. Defaults to True.

    Returns:
        dict: The provenance written to ``oversegment_meta.json``.
    """
    if algorithm not in OVERSEGMENT_DEFAULTS:
        raise OversegmentToolError(
            f'unknown algorithm {algorithm!r}; choose one of '
            f'{OVERSEGMENT_ALGORITHMS}')
    if workers < 1:
        raise OversegmentToolError(f'--workers must be >= 1, got {workers}')
    unknown = set(params or {}) - set(OVERSEGMENT_DEFAULTS[algorithm])
    if unknown:
        raise OversegmentToolError(
            f'{algorithm} does not take {sorted(unknown)}; it takes '
            f'{sorted(OVERSEGMENT_DEFAULTS[algorithm])}')
    params = dict(OVERSEGMENT_DEFAULTS[algorithm], **(params or {}))
    images = list_images(source, suffix, split_file, split)
    os.makedirs(out_dir, exist_ok=True)
    if not overwrite:
        _check_meta(out_dir, algorithm, params)
    jobs = []
    for img_id, img_path in images:
        out_path = osp.join(out_dir, img_id + '.png')
        if overwrite or not osp.isfile(out_path):
            jobs.append((img_path, out_path, algorithm, params))
    import skimage
    meta = dict(
        algorithm=algorithm,
        params=params,
        source=osp.abspath(source),
        split_file=osp.abspath(split_file) if split_file else None,
        split=split if source.endswith('.py') else None,
        tool='tools/dataset_converters/oversegment.py',
        tool_version=TOOL_VERSION,
        mmwsss_version=__version__,
        skimage_version=skimage.__version__,
        complete=False,
        count=len(images) - len(jobs),
        num_images=len(images))
    # written first so that a folder of an interrupted run is recognised
    _write_meta(out_dir, meta)
    print(f'{algorithm} over-segmentation: {len(jobs)} to compute, '
          f'{len(images) - len(jobs)} already in {out_dir}')
    done: List[Tuple[float, int]] = []
    bar = None
    if progress and jobs:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(jobs))
    pool = None
    if workers == 1 or len(jobs) <= 1:
        results = map(_oversegment_job, jobs)
    else:
        # not 'fork' (see tools/misc/make_saliency.py): the fork server
        # imports the module once, its children fork from that process
        if 'forkserver' in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context('forkserver')
            ctx.set_forkserver_preload(['mmwsss.utils.oversegment'])
        else:
            ctx = multiprocessing.get_context('spawn')
        pool = ctx.Pool(min(workers, len(jobs)))
        results = pool.imap_unordered(_oversegment_job, jobs, chunksize=4)
    try:
        for res in results:
            done.append(res)
            if bar is not None:
                bar.update()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    if bar is not None:
        print()
    counts = [n for _, n in done]
    meta.update(
        complete=True,
        count=sum(
            osp.isfile(osp.join(out_dir, i + '.png')) for i, _ in images),
        computed_this_run=len(done),
        regions_this_run=(dict(
            min=min(counts), max=max(counts),
            mean=round(sum(counts) / len(counts), 1)) if counts else None),
        mean_ms_per_image_this_run=(round(
            1000 * sum(s for s, _ in done) / len(done), 2) if done else None))
    _write_meta(out_dir, meta)
    return meta


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    params = {}
    for option, (algorithm, name) in _PARAM_OPTIONS.items():
        value = getattr(args, option)
        if value is None:
            continue
        if algorithm is not None and algorithm != args.algorithm:
            sys.exit(f'error: --{option.replace("_", "-")} is a parameter '
                     f'of {algorithm}, not of {args.algorithm}')
        params[name] = value
    try:
        meta = oversegment_folder(args.source, args.out_dir, args.algorithm,
                                  params, args.split_file, args.suffix,
                                  args.split, args.workers, args.overwrite)
    except (OversegmentToolError, OSError, ValueError) as e:
        sys.exit(f'error: {e}')
    print(f'{meta["count"]} {meta["algorithm"]} region maps in '
          f'{osp.abspath(args.out_dir)}')


if __name__ == '__main__':
    main()
