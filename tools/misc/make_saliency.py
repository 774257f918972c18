# Copyright (c) OpenMMLab. All rights reserved.
"""Write UNSUPERVISED saliency maps for a folder of images.

The maps come from classic training-free detectors
(:mod:`mmwsss.utils.saliency`): ``mbd`` (minimum barrier saliency, MB+,
Zhang et al. ICCV 2015) or ``ft`` (frequency-tuned saliency, Achanta et al.
CVPR 2009). They are a stand-in where no maps of a trained salient object
detector are available (EPS normally uses PFAN/PoolNet maps); say so when
reporting results obtained with them.

Example::

    python tools/misc/make_saliency.py data/msrc21/JPEGImages \\
        data/msrc21/SaliencyUnsupMBD --method mbd \\
        --list data/msrc21/ImageSets/Segmentation/trainval.txt --workers 2

One 8-bit grey PNG ``OUT_DIR/<id>.png`` per image (``<id>`` the file name
without ``--suffix``), written atomically. Ids whose PNG exists are skipped,
so an interrupted run resumes where it stopped. ``OUT_DIR/saliency_meta.json``
records the method, its parameters and the source; a rerun with another
method or other parameters into the same folder is refused (``--overwrite``
recomputes every map instead).
"""
import argparse
import multiprocessing
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import cv2

try:
    from mmwsss.utils.io import read_json_if_exists, write_json_atomic
    from mmwsss.utils.saliency import SALIENCY_METHODS, _saliency_job
    from mmwsss.version import __version__
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..',
                                            '..')))
    from mmwsss.utils.io import read_json_if_exists, write_json_atomic
    from mmwsss.utils.saliency import SALIENCY_METHODS, _saliency_job
    from mmwsss.version import __version__

#: Version of this tool's output format and defaults; bump it when a change
#: makes maps of earlier runs differ from what this version would write.
TOOL_VERSION = '1.0'
META_FILE = 'saliency_meta.json'

#: The parameters each method is run with (the functions' defaults).
METHOD_PARAMS: Dict[str, dict] = {
    'mbd':
    dict(
        max_side=300,
        num_iters=3,
        backgroundness=True,
        border_ratio=0.1,
        smooth_alpha=50.,
        center_bias=True,
        contrast_b=10.),
    'ft':
    dict(blur_ksize=5, normalize=True),
}

REFERENCES = {
    'mbd': ('Zhang et al., "Minimum Barrier Salient Object Detection at '
            '80 FPS", ICCV 2015 (MB+)'),
    'ft': ('Achanta et al., "Frequency-tuned Salient Region Detection", '
           'CVPR 2009'),
}


class SaliencyToolError(RuntimeError):
    """A failure of the tool that names its cause (file, argument)."""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Write unsupervised (training-free) saliency maps as '
        'grey PNGs')
    parser.add_argument('img_dir', help='folder of the images')
    parser.add_argument('out_dir', help='folder of the PNG maps')
    parser.add_argument(
        '--method',
        choices=SALIENCY_METHODS,
        default='mbd',
        help='mbd: minimum barrier (MB+, Zhang et al. ICCV 2015); ft: '
        'frequency-tuned (Achanta et al. CVPR 2009). Default: mbd')
    parser.add_argument(
        '--list',
        dest='split_file',
        help='text file with one image id per line (e.g. ImageSets/'
        'Segmentation/train.txt); default: every IMG_DIR/*SUFFIX file')
    parser.add_argument(
        '--suffix', default='.jpg', help='image file suffix (default .jpg)')
    parser.add_argument(
        '--workers',
        type=int,
        default=1,
        help='worker processes (default 1)')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='recompute every map, also those that exist, and accept a '
        'folder made with another method or other parameters')
    return parser.parse_args(argv)


def list_ids(img_dir: str, suffix: str,
             split_file: Optional[str] = None) -> List[str]:
    """Ids of the images to process.

    Args:
        img_dir (str): Image folder.
        suffix (str): Image file suffix, e.g. ``'.jpg'``.
        split_file (str, optional): One id per line; blank lines are
            skipped. Defaults to None (every ``*suffix`` file of
            ``img_dir``, sorted).

    Returns:
        list[str]: The ids.
    """
    if not osp.isdir(img_dir):
        raise SaliencyToolError(f'image folder {img_dir} does not exist')
    if split_file is None:
        return sorted(
            name[:-len(suffix)] for name in os.listdir(img_dir)
            if name.endswith(suffix) and not name.startswith('.'))
    if not osp.isfile(split_file):
        raise SaliencyToolError(f'id list {split_file} does not exist')
    with open(split_file, encoding='utf-8') as f:
        ids = [line.strip() for line in f if line.strip()]
    missing = [i for i in ids if not osp.isfile(osp.join(img_dir, i + suffix))]
    if missing:
        raise SaliencyToolError(
            f'{len(missing)} image(s) of {split_file} are missing from '
            f'{img_dir}, e.g. {osp.join(img_dir, missing[0] + suffix)}')
    return ids


def _write_meta(out_dir: str, meta: dict) -> None:
    write_json_atomic(osp.join(out_dir, META_FILE), meta)


def _check_meta(out_dir: str, method: str, params: dict) -> None:
    """Refuse to mix maps of other settings into an existing folder."""
    try:
        old = read_json_if_exists(osp.join(out_dir, META_FILE))
    except ValueError as e:
        raise SaliencyToolError(str(e)) from e
    if old is None:
        return
    if (old.get('method'), old.get('params'),
            old.get('tool_version')) != (method, params, TOOL_VERSION):
        raise SaliencyToolError(
            f'{out_dir} holds maps of method {old.get("method")!r} with '
            f'parameters {old.get("params")} (tool version '
            f'{old.get("tool_version")}); this run is {method!r} with '
            f'{params} (tool version {TOOL_VERSION}). Use another folder '
            'or --overwrite')


def make_saliency(img_dir: str,
                  out_dir: str,
                  method: str = 'mbd',
                  split_file: Optional[str] = None,
                  suffix: str = '.jpg',
                  workers: int = 1,
                  overwrite: bool = False,
                  progress: bool = True) -> dict:
    """Write the saliency map of every listed image; see the module doc.

    Args:
        img_dir (str): Image folder.
        out_dir (str): Output folder (created).
        method (str): ``'mbd'`` or ``'ft'``. Defaults to 'mbd'.
        split_file (str, optional): Id list. Defaults to None (all images).
        suffix (str): Image file suffix. Defaults to '.jpg'.
        workers (int): Worker processes. Defaults to 1.
        overwrite (bool): Recompute existing maps and accept a folder of
            other settings. Defaults to False.
        progress (bool): Show a progress bar. Defaults to True.

    Returns:
        dict: The provenance written to ``saliency_meta.json``.
    """
    if method not in METHOD_PARAMS:
        raise SaliencyToolError(f'unknown method {method!r}; choose one of '
                                f'{SALIENCY_METHODS}')
    if workers < 1:
        raise SaliencyToolError(f'--workers must be >= 1, got {workers}')
    params = METHOD_PARAMS[method]
    ids = list_ids(img_dir, suffix, split_file)
    os.makedirs(out_dir, exist_ok=True)
    if not overwrite:
        _check_meta(out_dir, method, params)
    jobs = []
    for img_id in ids:
        out_path = osp.join(out_dir, img_id + '.png')
        if overwrite or not osp.isfile(out_path):
            jobs.append((osp.join(img_dir, img_id + suffix), out_path,
                         method, params))
    meta = dict(
        saliency='UNSUPERVISED (training-free, no learned weights, no '
        'labels)',
        method=method,
        reference=REFERENCES[method],
        params=params,
        source_dir=osp.abspath(img_dir),
        split_file=osp.abspath(split_file) if split_file else None,
        suffix=suffix,
        tool='tools/misc/make_saliency.py',
        tool_version=TOOL_VERSION,
        mmwsss_version=__version__,
        opencv_version=cv2.__version__,
        complete=False,
        count=len(ids) - len(jobs),
        num_ids=len(ids))
    # written first so that a folder of an interrupted run is recognised
    _write_meta(out_dir, meta)
    print(f'{method} saliency: {len(jobs)} to compute, '
          f'{len(ids) - len(jobs)} already in {out_dir}')
    seconds: List[float] = []
    bar = None
    if progress and jobs:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(jobs))
    if workers == 1 or len(jobs) <= 1:
        results = map(_saliency_job, jobs)
        pool = None
    else:
        # Not 'fork': a child forked from a process whose OpenCV thread
        # pool has run can deadlock. The fork server imports the package
        # once; its children fork from that clean process.
        if 'forkserver' in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context('forkserver')
            ctx.set_forkserver_preload(['mmwsss.utils.saliency'])
        else:
            ctx = multiprocessing.get_context('spawn')
        pool = ctx.Pool(
            min(workers, len(jobs)),
            initializer=cv2.setNumThreads,
            initargs=(1, ))
        results = pool.imap_unordered(_saliency_job, jobs, chunksize=4)
    try:
        for sec in results:
            seconds.append(sec)
            if bar is not None:
                bar.update()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    if bar is not None:
        print()
    meta.update(
        complete=True,
        count=sum(
            osp.isfile(osp.join(out_dir, i + '.png')) for i in ids),
        computed_this_run=len(seconds),
        mean_ms_per_image_this_run=(round(1000 * sum(seconds) /
                                          len(seconds), 2)
                                    if seconds else None))
    _write_meta(out_dir, meta)
    return meta


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        meta = make_saliency(args.img_dir, args.out_dir, args.method,
                             args.split_file, args.suffix, args.workers,
                             args.overwrite)
    except (SaliencyToolError, OSError) as e:
        sys.exit(f'error: {e}')
    print(f'{meta["count"]} unsupervised {meta["method"]} saliency maps in '
          f'{osp.abspath(args.out_dir)}')


if __name__ == '__main__':
    main()
