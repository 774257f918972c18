# Copyright (c) OpenMMLab. All rights reserved.
"""Convert MS COCO 2014 instance annotations to 81-class semantic labels.

Usage::

    python tools/dataset_converters/coco2014_semantic.py COCO_ROOT \
        [--splits train2014 val2014] [--out-dir DIR] [--nproc N]

Reads ``COCO_ROOT/annotations/instances_{split}.json`` and writes

* ``OUT_DIR/{split}/<file_stem>.png``: palette ('P') PNG label maps, 0 =
  background, 1..80 = the COCO categories in id order, 255 = crowd regions
  not covered by another instance (``--crowd-as-class`` labels them with
  their class instead). ``OUT_DIR`` defaults to
  ``COCO_ROOT/SegmentationClass81``;
* ``COCO_ROOT/ImageSets/{split}.txt``: one file stem per line, sorted
  (e.g. ``COCO_train2014_000000000009``);
* ``COCO_ROOT/cls_labels_{split}.npy``: a pickled dict ``{file_stem:
  float32[80]}`` of multi-hot image-level labels (the ``cls_labels.npy``
  format of PSA/IRN/EPS), i.e. the classes present in the label map.
  Read it with :func:`mmwsss.datasets.load_cls_label_file` (which runs
  no code from the pickle), or convert it with ``cls_labels_to_json.py``.

All files are written atomically (temporary file in the same directory,
then ``os.replace``). A rerun keeps the PNGs that already exist (their
image labels are read back from them) and reports how many it skipped.
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

try:
    import mmwsss  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..',
                                            '..')))

from mmwsss.datasets.coco_utils import (  # noqa: E402
    COCO_CLASSES, anns_to_semantic, build_coco_index, color_map,
    coco_category_to_label, semantic_to_image_labels)

# Labels 0..80 get COCO_PALETTE; the rest of the 256 entries (255 = ignore
# included) continue the same VOC colour map.
PNG_PALETTE = [v for rgb in color_map(256) for v in rgb]


def atomic_write(path: str, write: Callable) -> None:
    """Write a file atomically.

    Args:
        path (str): Destination path.
        write (Callable): Called with a binary file object open for
            writing; the data go to a temporary file in the destination
            directory that then replaces ``path``.
    """
    dirname, name = osp.split(osp.abspath(path))
    os.makedirs(dirname, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{name}.', suffix='.tmp', dir=dirname)
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def save_label_png(label_map: np.ndarray, path: str) -> None:
    """Save a uint8 label map as a palette PNG, atomically.

    Args:
        label_map (np.ndarray): ``(H, W)`` uint8 label map.
        path (str): Destination ``.png`` path.
    """
    h, w = label_map.shape
    img = Image.frombytes('P', (w, h),
                          np.ascontiguousarray(label_map, np.uint8).tobytes())
    img.putpalette(PNG_PALETTE)
    atomic_write(path, lambda f: img.save(f, format='PNG'))


def _convert_one(task: tuple) -> Tuple[str, np.ndarray, bool]:
    """Convert one image (runs in worker processes).

    Args:
        task (tuple): ``(stem, png_path, height, width, anns, cat_to_label,
            crowd_as_ignore, image_path)``; ``image_path`` is None or a
            JPEG whose size is checked against ``height``/``width``.

    Returns:
        tuple: ``(stem, multi-hot float32[80], skipped)``.
    """
    (stem, png_path, height, width, anns, cat_to_label, crowd_as_ignore,
     image_path) = task
    if image_path is not None:
        if not osp.isfile(image_path):
            raise FileNotFoundError(f'image not found: {image_path}')
        with Image.open(image_path) as im:
            if im.size != (width, height):
                raise ValueError(
                    f'{image_path} is {im.size[0]}x{im.size[1]} but the '
                    f'annotation file says {width}x{height}')
    if osp.exists(png_path):
        with Image.open(png_path) as im:
            label_map = np.array(im)
        if label_map.shape != (height, width):
            raise ValueError(f'existing {png_path} has shape '
                             f'{label_map.shape}, expected '
                             f'{(height, width)}; delete it to regenerate')
        skipped = True
    else:
        label_map = anns_to_semantic(anns, height, width, cat_to_label,
                                     crowd_as_ignore)
        save_label_png(label_map, png_path)
        skipped = False
    return stem, semantic_to_image_labels(label_map, len(COCO_CLASSES)), \
        skipped


def _run(func: Callable, tasks: List[tuple], nproc: int) -> list:
    """Map ``func`` over ``tasks`` with a progress bar."""
    if not tasks:
        return []
    try:
        from mmengine.utils import (track_parallel_progress,
                                    track_progress)
    except ImportError:
        track_progress = track_parallel_progress = None
    if nproc > 1 and len(tasks) > 1:
        if track_parallel_progress is not None:
            return track_parallel_progress(
                func, tasks, nproc=min(nproc, len(tasks)), chunksize=8)
        from multiprocessing import Pool
        with Pool(min(nproc, len(tasks))) as pool:
            return pool.map(func, tasks, chunksize=8)
    if track_progress is not None:
        return track_progress(func, tasks)
    return [func(t) for t in tasks]


def annotation_file(coco_root: str, split: str) -> str:
    """Path of the instances JSON of ``split``."""
    return osp.join(coco_root, 'annotations', f'instances_{split}.json')


def convert_split(coco_root: str,
                  split: str,
                  out_dir: Optional[str] = None,
                  nproc: int = 1,
                  crowd_as_ignore: bool = True,
                  check_images: bool = False,
                  strict: bool = True,
                  skip_unannotated: bool = False) -> Dict[str, int]:
    """Convert one split.

    Args:
        coco_root (str): COCO root holding ``annotations/``.
        split (str): Split name, e.g. ``'train2014'``.
        out_dir (str, optional): Root of the PNGs. Defaults to
            ``COCO_ROOT/SegmentationClass81``.
        nproc (int): Number of worker processes. Defaults to 1.
        crowd_as_ignore (bool): Uncovered crowd pixels -> 255 (True) or
            their class (False). Defaults to True.
        check_images (bool): Check that ``COCO_ROOT/{split}/{file_name}``
            exists and has the annotated size. Defaults to False.
        strict (bool): Require the 80 standard categories. Defaults to
            True.
        skip_unannotated (bool): Leave images without any annotation out
            of the PNGs, the split list and the image labels (82,783 ->
            82,081 images for train2014). Defaults to False.

    Returns:
        dict: ``{'images': n, 'written': n, 'skipped': n,
        'unannotated_excluded': n}``; ``images`` counts the listed images.

    Raises:
        FileNotFoundError: If the annotation file is missing (the message
            names its path).
    """
    ann_file = annotation_file(coco_root, split)
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file not found: {ann_file}')
    out_dir = out_dir or osp.join(coco_root, 'SegmentationClass81')
    split_dir = osp.join(out_dir, split)
    os.makedirs(split_dir, exist_ok=True)

    print(f'[{split}] loading {ann_file}', flush=True)
    with open(ann_file, encoding='utf-8') as f:
        coco = json.load(f)
    cat_to_label = coco_category_to_label(coco['categories'], strict=strict)
    index = build_coco_index(coco)
    del coco

    tasks = []
    stems = set()
    excluded = 0
    for img_id, img in index.images.items():
        if skip_unannotated and not index.anns.get(img_id):
            excluded += 1
            continue
        stem = osp.splitext(osp.basename(img['file_name']))[0]
        if stem in stems:
            raise ValueError(f'duplicated file name stem {stem!r} in '
                             f'{ann_file}')
        stems.add(stem)
        image_path = (
            osp.join(coco_root, split, img['file_name'])
            if check_images else None)
        tasks.append((stem, osp.join(split_dir, f'{stem}.png'),
                      int(img['height']), int(img['width']),
                      index.anns.get(img_id, []), cat_to_label,
                      crowd_as_ignore, image_path))
    tasks.sort(key=lambda t: t[0])

    results = _run(_convert_one, tasks, nproc)
    skipped = sum(1 for _, _, s in results if s)
    cls_labels = {stem: labels for stem, labels, _ in results}

    list_file = osp.join(coco_root, 'ImageSets', f'{split}.txt')
    text = ''.join(f'{t[0]}\n' for t in tasks).encode('utf-8')
    atomic_write(list_file, lambda f: f.write(text))
    npy_file = osp.join(coco_root, f'cls_labels_{split}.npy')
    atomic_write(npy_file,
                 lambda f: np.save(f, cls_labels, allow_pickle=True))

    print(f'[{split}] {len(tasks)} images: wrote {len(tasks) - skipped} '
          f'PNGs to {split_dir}, skipped {skipped} existing PNGs'
          + (f', excluded {excluded} images without annotations'
             if skip_unannotated else '') + f'; {list_file}; {npy_file}',
          flush=True)
    return dict(images=len(tasks), written=len(tasks) - skipped,
                skipped=skipped, unannotated_excluded=excluded)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse command line arguments."""
    parser = argparse.ArgumentParser(
        description='Convert MS COCO 2014 instance annotations to 81-class '
        'semantic label PNGs, split lists and cls_labels_{split}.npy')
    parser.add_argument('coco_root', help='COCO root with annotations/')
    parser.add_argument(
        '--splits',
        nargs='+',
        default=['train2014', 'val2014'],
        help='splits to convert (default: train2014 val2014)')
    parser.add_argument(
        '--out-dir',
        default=None,
        help='root of the PNGs (default: COCO_ROOT/SegmentationClass81)')
    parser.add_argument(
        '--nproc',
        type=int,
        default=1,
        help='worker processes (default: 1; use e.g. 8 for the full set)')
    parser.add_argument(
        '--crowd-as-class',
        action='store_true',
        help='label crowd regions with their class instead of 255')
    parser.add_argument(
        '--check-images',
        action='store_true',
        help='check that COCO_ROOT/{split}/{file_name} exists and has the '
        'annotated size')
    parser.add_argument(
        '--skip-unannotated',
        action='store_true',
        help='leave images without any annotation out (train2014: 82,081 '
        'of 82,783 images remain)')
    parser.add_argument(
        '--non-strict',
        action='store_true',
        help='accept category lists other than the 80 standard ones')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point; see the module docstring."""
    args = parse_args(argv)
    if args.nproc < 1:
        raise ValueError('--nproc must be >= 1')
    # Fail before any work if an annotation file is missing.
    for split in args.splits:
        ann_file = annotation_file(args.coco_root, split)
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'annotation file not found: {ann_file}')
    for split in args.splits:
        convert_split(
            args.coco_root,
            split,
            out_dir=args.out_dir,
            nproc=args.nproc,
            crowd_as_ignore=not args.crowd_as_class,
            check_images=args.check_images,
            strict=not args.non_strict,
            skip_unannotated=args.skip_unannotated)


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f'error: {e}')
