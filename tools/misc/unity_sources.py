# Copyright (c) OpenMMLab. All rights reserved.
"""Turn a C++ extension's many translation units into a few "unity" units.

Used by ``tools/setup_env.sh`` to build mmcv's CPU ops quickly. Every one of
mmcv's ~77 ``.cpp`` files includes torch's headers, and parsing those takes
about 15 s per file on this project's machines, far more than compiling the
file's own code. Compiling the same code as a handful of files that each
``#include`` many of the originals parses the headers once per unit instead
of once per file. The code compiled is the same; only its grouping changes.

Example (what the set-up script runs in the unpacked mmcv sdist)::

    python tools/misc/unity_sources.py mmcv-2.1.0 \\
        mmcv/ops/csrc/pytorch mmcv/ops/csrc/pytorch/cpu --units 4 \\
        --apart cpu/bezier_align.cpp,cpu/roi_align.cpp,cpu/roi_align_rotated.cpp \\
        --apart cpu/bezier_align.cpp,cpu/roi_align.cpp,cpu/rotated_feature_align.cpp \\
        --last cpu/psamask.cpp

For each directory given (relative to the source root), its ``*.cpp`` files
(not recursive, the same set a ``glob('DIR/*.cpp')`` in ``setup.py`` picks
up) are moved into ``DIR/_unity_parts/``, and ``unity_<k>.cpp`` files, each a
list of ``#include`` lines naming moved files by absolute path, are written
into the first directory. A build script that globs those directories then
compiles the unity files only. A quoted ``#include "x.hpp"`` inside a moved
file is still searched for first in the moved file's own directory, then on
the include path, so a moved file must not include a sibling by a relative
path (``--check`` refuses if one does; mmcv's sources include their shared
headers through the ``csrc/common`` include directory).

Files are assigned greedily, largest first, to the unit with the fewest bytes
so far. Two things can stop files from sharing a unit, and the caller must say
which files they concern (found by compiling one unit with everything and
reading the "redefinition of" errors):

* ``--apart A,B,C``: these files define the same file-local helpers (a
  ``PreCalc`` struct or a ``bilinear_interpolate_gradient`` template, say), so
  no two of them may go into the same unit. May be given more than once.
* ``--last F``: F defines macros (``#define min(a, b)``) that would break code
  included after it, so it is included last in its unit.

Paths in ``--apart`` and ``--last`` are relative to the first directory. The
script prints the units it wrote; it exits with an error if the constraints
cannot be met with ``--units`` units.
"""
import argparse
import os
import os.path as osp
import re
import shutil
import sys
from typing import Dict, List, Sequence, Set

PARTS = '_unity_parts'


def collect(root: str, dirs: Sequence[str]) -> List[str]:
    """The ``*.cpp`` files directly in ``dirs``, relative to ``dirs[0]``."""
    base = osp.join(root, dirs[0])
    files = []
    for d in dirs:
        full = osp.join(root, d)
        for name in sorted(os.listdir(full)):
            path = osp.join(full, name)
            if name.endswith('.cpp') and osp.isfile(path):
                files.append(osp.relpath(path, base))
    return files


def relative_sibling_includes(root: str, dirs: Sequence[str],
                              files: Sequence[str]) -> List[str]:
    """Quoted includes that resolve next to the including file (would break
    once the file is moved)."""
    base = osp.join(root, dirs[0])
    bad = []
    pattern = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
    for rel in files:
        src = osp.join(base, rel)
        with open(src, encoding='utf-8', errors='replace') as f:
            text = f.read()
        for inc in pattern.findall(text):
            if osp.exists(osp.join(osp.dirname(src), inc)):
                bad.append(f'{rel}: #include "{inc}"')
    return bad


def assign(files: Sequence[str], sizes: Dict[str, int], units: int,
           apart: Sequence[Set[str]], last: Set[str]) -> List[List[str]]:
    """Greedy, largest first, to the lightest unit allowed by ``apart``."""
    groups: List[List[str]] = [[] for _ in range(units)]
    load = [0] * units
    for rel in sorted(files, key=lambda r: (-sizes[r], r)):
        banned = set()
        for members in apart:
            if rel in members:
                for k, group in enumerate(groups):
                    if members.intersection(group):
                        banned.add(k)
        allowed = [k for k in range(units) if k not in banned]
        if not allowed:
            raise ValueError(f'{rel}: no unit left under --apart with '
                             f'--units {units}; raise --units')
        k = min(allowed, key=lambda i: (load[i], i))
        groups[k].append(rel)
        load[k] += sizes[rel]
    for group in groups:
        # Stable order inside a unit (by name), the --last files at the end.
        group.sort(key=lambda r: (r in last, r))
        if sum(r in last for r in group) > 1:
            raise ValueError(f'more than one --last file in a unit: {group}; '
                             'raise --units')
    return [g for g in groups if g]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', help='source root (the unpacked sdist)')
    parser.add_argument('dirs', nargs='+',
                        help='directories (relative to root) whose *.cpp '
                        'files are merged; the unity files go into the first')
    parser.add_argument('--units', type=int, default=3,
                        help='number of unity files to write')
    parser.add_argument('--apart', action='append', default=[],
                        help='comma-separated files that must not share a '
                        'unit (relative to the first directory)')
    parser.add_argument('--last', action='append', default=[],
                        help='a file to include last in its unit')
    parser.add_argument('--check', action='store_true',
                        help='only check and print the plan; move nothing')
    args = parser.parse_args(argv)

    if args.units < 1:
        parser.error('--units must be at least 1')
    files = collect(args.root, args.dirs)
    if not files:
        parser.error('no *.cpp files found')
    base = osp.abspath(osp.join(args.root, args.dirs[0]))
    apart = [set(a.split(',')) for a in args.apart]
    last = set(args.last)
    unknown = set().union(last, *apart) - set(files)
    if unknown:
        parser.error(f'not among the sources: {sorted(unknown)}')
    bad = relative_sibling_includes(args.root, args.dirs, files)
    if bad:
        print('unity_sources: files include siblings by relative path:\n  ' +
              '\n  '.join(bad), file=sys.stderr)
        return 1
    sizes = {r: osp.getsize(osp.join(base, r)) for r in files}
    try:
        groups = assign(files, sizes, args.units, apart, last)
    except ValueError as e:
        print(f'unity_sources: {e}', file=sys.stderr)
        return 1

    for k, group in enumerate(groups):
        print(f'unity_{k}.cpp: {len(group)} files, '
              f'{sum(sizes[r] for r in group)} bytes')
    if args.check:
        return 0

    moved = {}
    for rel in files:
        src = osp.join(base, rel)
        dst = osp.join(osp.dirname(src), PARTS, osp.basename(src))
        os.makedirs(osp.dirname(dst), exist_ok=True)
        shutil.move(src, dst)
        moved[rel] = dst
    for k, group in enumerate(groups):
        lines = [
            '// Written by mmwsss tools/misc/unity_sources.py: a unity '
            'translation unit.'
        ]
        lines += [f'#include "{moved[r]}"' for r in group]
        with open(osp.join(base, f'unity_{k}.cpp'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
