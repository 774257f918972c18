# Copyright (c) OpenMMLab. All rights reserved.
"""Convert PSA/SEAM ResNet-38d ImageNet weights to an mmwsss checkpoint.

Usage::

    python tools/model_converters/psa2mmwsss.py SRC DST

``SRC`` is a torch file holding the ResNet-38d state dict in the naming of
jiwoon-ahn/psa ``network/resnet38d.py`` (``conv1a.weight``,
``b2.bn_branch2a.weight``, ..., ``bn7.running_var``), either bare or under
a ``'state_dict'`` key, optionally with ``module.`` prefixes and head keys
(``fc8``, ...), which are dropped. SEAM's published
``resnet38_ilsvrc-cls_rna-a1_cls1000_ep-0001.pth`` is such a file. The
original MXNet ``.params`` weights of Wu et al. are not: convert them first
with PSA's ``convert_mxnet_to_torch`` (it needs MXNet), or use SEAM's
``.pth``.

``DST`` receives ``dict(state_dict=..., meta=...)`` with the keys of
:class:`mmwsss.models.ResNet38d` (no ``backbone.`` prefix), written
atomically. Load it into the backbone with ``backbone=dict(
type='ResNet38d', init_cfg=dict(type='Pretrained', checkpoint=DST))`` or
``mmengine.runner.load_checkpoint(backbone, DST)``.
"""
import argparse
import io
import os.path as osp
import sys
from typing import List, Optional

import torch

try:
    import mmwsss  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0,
                    osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from mmwsss.models.backbones import convert_psa_resnet38d  # noqa: E402
from mmwsss.utils.checkpoint import load_from_local  # noqa: E402
from mmwsss.utils.io import atomic_write_bytes  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Convert a PSA/SEAM ResNet-38d state dict to an mmwsss '
        'ResNet38d checkpoint')
    parser.add_argument('src', help='PSA-style .pth file')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    return parser.parse_args(argv)


def convert_file(src: str, dst: str) -> List[str]:
    """Convert ``src`` to ``dst``.

    Args:
        src (str): PSA-style checkpoint.
        dst (str): Output checkpoint.

    Returns:
        list[str]: The dropped (non-backbone) keys.
    """
    checkpoint = load_from_local(src, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise TypeError(f'{src} holds a {type(checkpoint).__name__}, not a '
                        'state dict')
    state_dict = checkpoint.get('state_dict', checkpoint)
    converted, dropped = convert_psa_resnet38d(state_dict, return_dropped=True)
    meta = dict(
        source=osp.abspath(src),
        converter='tools/model_converters/psa2mmwsss.py',
        architecture='ResNet38d',
        dropped_keys=dropped)
    buf = io.BytesIO()
    torch.save(dict(state_dict=converted, meta=meta), buf)
    atomic_write_bytes(dst, buf.getvalue())
    return dropped


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    dropped = convert_file(args.src, args.dst)
    print(f'wrote {args.dst}' +
          (f' (dropped {len(dropped)} non-backbone keys: '
           f'{", ".join(dropped)})' if dropped else ''))


if __name__ == '__main__':
    main()
