# Copyright (c) OpenMMLab. All rights reserved.
"""Convert a PSA/IRN ``cls_labels.npy`` to a label file that holds no code.

Usage::

    python tools/dataset_converters/cls_labels_to_json.py IN.npy OUT.json
    python tools/dataset_converters/cls_labels_to_json.py IN.npy OUT.npz

``IN.npy`` is the pickled dict ``{image id: float32 vector over the
foreground classes}`` of PSA, IRN, SEAM, EPS and RPNet (ids str such as
``'2007_000032'`` or IRN-style int such as ``2007000032``). It is read by
:func:`mmwsss.datasets.load_cls_label_file`, which builds numpy arrays and
scalars only and refuses a pickle that needs anything else (a pickle can
run code), so converting an untrusted file is safe. The output is written
atomically, in a format any mmwsss dataset reads without pickle
(``cls_label_file='OUT.json'``):

* ``.json``: ``{"<image id>": [class index, ...]}``, the foreground
  classes present (1-based, as in the masks: vector entry ``k`` is class
  ``k + 1``), sorted ids; e.g. ``{"2007_000032": [1, 15]}``;
* ``.npz``: one float32 vector per image id (``str`` of the id), exactly
  the input's vectors, so the dataset still checks their length against
  its classes.

A vector entry counts as present when it is above 0.5, as the datasets
read it; the tool says how many entries were neither 0 nor 1.
"""
import argparse
import io
import json
import os.path as osp
import sys
from typing import Dict, Optional, Sequence

import numpy as np

try:
    import mmwsss  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..',
                                            '..')))

from mmwsss.datasets import load_cls_label_file  # noqa: E402
from mmwsss.utils.io import atomic_write_bytes  # noqa: E402

__all__ = ['convert', 'main', 'parse_args']

OUT_FORMATS = ('.json', '.npz')


def convert(src: str, dst: str) -> Dict[str, int]:
    """Convert ``src`` (``.npy``) to ``dst`` (``.json`` or ``.npz``).

    Args:
        src (str): The PSA/IRN ``cls_labels.npy``.
        dst (str): The output file; its extension picks the format.

    Returns:
        dict: ``num_images``, ``num_fg_classes`` and ``num_soft`` (vector
        entries neither 0 nor 1).

    Raises:
        ValueError: If ``dst`` has another extension, ``src`` cannot be
            read safely (see :func:`~mmwsss.datasets.load_cls_label_file`)
            or its vectors differ in length.
    """
    ext = osp.splitext(dst)[1].lower()
    if ext not in OUT_FORMATS:
        raise ValueError(f'output {dst} must end in one of {OUT_FORMATS}')
    if osp.splitext(src)[1].lower() != '.npy':
        raise ValueError(f'input {src} must be a .npy file')
    table = load_cls_label_file(src)
    lengths = {int(v.size) for v in table.values()}
    if len(lengths) > 1:
        raise ValueError(f'{src}: the label vectors have different lengths '
                         f'{sorted(lengths)}; not a cls_labels file of one '
                         'dataset')
    vectors = {str(k): v for k, v in table.items()}
    if len(vectors) != len(table):
        raise ValueError(f'{src}: some image ids differ only in type (str '
                         'and int); they would collide in the output')
    num_soft = int(sum(((v != 0) & (v != 1)).sum() for v in table.values()))
    if ext == '.json':
        lines = [
            f' {json.dumps(k)}: '
            f'{json.dumps((np.flatnonzero(vectors[k] > 0.5) + 1).tolist())}'
            for k in sorted(vectors)
        ]  # one image per line
        data = ('{\n' + ',\n'.join(lines) + '\n}\n').encode()
    else:
        buf = io.BytesIO()
        np.savez(buf, **{k: vectors[k] for k in sorted(vectors)})
        data = buf.getvalue()
    atomic_write_bytes(dst, data)
    return dict(
        num_images=len(vectors),
        num_fg_classes=lengths.pop() if lengths else 0,
        num_soft=num_soft)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Convert a PSA/IRN cls_labels.npy (a pickle) to a .json '
        'or .npz image-label file that cannot carry code.')
    parser.add_argument('src', help='the cls_labels.npy file')
    parser.add_argument('dst', help='the output file, .json or .npz')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the conversion; 0 on success, 1 with a message on error."""
    args = parse_args(argv)
    try:
        info = convert(args.src, args.dst)
    except (OSError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {args.dst}: {info["num_images"]} images, '
          f'{info["num_fg_classes"]} foreground classes')
    if info['num_soft']:
        print(f'note: {info["num_soft"]} vector entries were neither 0 nor '
              '1; in .json an entry above 0.5 is a label, as the datasets '
              'read it')
    return 0


if __name__ == '__main__':
    sys.exit(main())
