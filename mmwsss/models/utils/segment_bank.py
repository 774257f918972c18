# Copyright (c) OpenMMLab. All rights reserved.
"""Segment memory bank and cross-process gathering of SPML.

SPML (Ke et al., ICLR 2021, https://arxiv.org/abs/2105.00957, Sec. 4 and
App. A) contrasts each pixel with the segments of the whole batch, over
all GPUs, and with those of the two previous batches (a memory bank).

Distributed training: the reference code gathers the segment prototypes of
all GPUs with a differentiable gather, so the loss on one GPU also trains
the embeddings of the others. :func:`all_gather_cat` does the same with a
differentiable ``all_gather`` (``torch.distributed.nn.functional`` when
available, else :class:`DifferentiableAllGather`): the gradient of the
gathered tensor is summed over the processes and each process keeps the
slice of its own rows. With DDP's averaging of the parameter gradients
this is the gradient of the mean of the processes' losses. Every process
must run the loss (and its backward) in every iteration, since the gather
and its backward are collectives. Outside distributed training (or with
one process) the helpers are no-ops.
"""
import collections
import warnings
from typing import List, Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    'SegmentMemoryBank', 'DifferentiableAllGather', 'all_gather_cat',
    'is_distributed'
]


def is_distributed() -> bool:
    """bool: A process group with more than one process is running."""
    return (dist.is_available() and dist.is_initialized()
            and dist.get_world_size() > 1)


class DifferentiableAllGather(torch.autograd.Function):
    """``all_gather`` whose backward sums the gradients over processes.

    Forward: ``(n, ...)`` on each of the ``W`` processes to ``(W, n, ...)``
    (the same shape on every process). Backward: the ``(W, n, ...)``
    gradient is summed over the processes (``all_reduce``) and each
    process keeps the slice of its rank. Works with every backend (the
    fallback of :func:`all_gather_cat` when
    ``torch.distributed.nn.functional`` is not available).
    """

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:
        """Gather ``tensor`` from every process."""
        tensor = tensor.contiguous()
        world = dist.get_world_size()
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor)
        return torch.stack(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        """Sum the gradient over processes; keep this rank's slice."""
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[dist.get_rank()]


def _gather_padded(tensor: Tensor, differentiable: bool,
                   use_torch_functional: bool) -> Tensor:
    """``(W, n, ...)`` from the same ``(n, ...)`` shape on every process."""
    if not differentiable:
        world = dist.get_world_size()
        parts = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.stack(parts)
    if use_torch_functional:
        try:
            from torch.distributed.nn.functional import all_gather
        except ImportError:  # pragma: no cover - old or minimal builds
            all_gather = None
        if all_gather is not None:
            # deprecated in torch 2.14 (FutureWarning at every call) in
            # favour of a private API; DifferentiableAllGather takes over
            # once it is removed
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    'ignore', category=FutureWarning,
                    message='.*distributed.nn.functional.all_gather')
                return torch.stack(all_gather(tensor))
    return DifferentiableAllGather.apply(tensor)


def all_gather_cat(tensor: Tensor,
                   differentiable: bool = True,
                   use_torch_functional: bool = True) -> Tuple[Tensor, int]:
    """Concatenate the rows of ``tensor`` of every process, in rank order.

    The processes may hold different numbers of rows (segments): they are
    padded to the largest, gathered, and trimmed back.

    Args:
        tensor (Tensor): ``(n_r, ...)``; the trailing shape and the dtype
            must agree over the processes.
        differentiable (bool): Let the gradient flow back to the process
            that holds each row (see the module docstring); must be the
            same on every process. Defaults to True.
        use_torch_functional (bool): Use
            ``torch.distributed.nn.functional.all_gather`` when it exists;
            False forces :class:`DifferentiableAllGather`. Defaults to True.

    Returns:
        tuple[Tensor, int]: ``(gathered, offset)``: the ``(sum_r n_r, ...)``
        rows, and the index of this process's first row in them. Not
        distributed: ``(tensor, 0)``.
    """
    if not is_distributed():
        return tensor, 0
    world, rank = dist.get_world_size(), dist.get_rank()
    size = torch.tensor([tensor.shape[0]], device=tensor.device)
    sizes = [torch.empty_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes = [int(s) for s in sizes]
    longest = max(sizes)
    if tensor.shape[0] < longest:
        pad = tensor.new_zeros((longest - tensor.shape[0], ) +
                               tuple(tensor.shape[1:]))
        padded = torch.cat([tensor, pad])
    else:
        padded = tensor
    gathered = _gather_padded(padded, differentiable, use_torch_functional)
    rows = torch.cat([gathered[r, :sizes[r]] for r in range(world)])
    return rows, sum(sizes[:rank])


class SegmentMemoryBank:
    """The detached segments of the last ``size`` batches (SPML's memory).

    Each entry holds the prototypes of one (gathered) batch with their
    semantic labels and the tags of their images; :meth:`read` returns them
    concatenated, oldest first, for the semantic-annotation,
    co-occurrence and feature-affinity relations (not the image-similarity
    one, which is per image). Read before pushing the current batch, so
    that a batch never meets its own copy.

    Args:
        size (int): Number of batches kept. Defaults to 2 (paper App. A and
            code ``MEMORY_BANK_SIZE=2``; 0 disables the bank).
    """

    def __init__(self, size: int = 2) -> None:
        if size < 0:
            raise ValueError(f'SegmentMemoryBank: size must be >= 0, got '
                             f'{size}')
        self.size = size
        self._entries: collections.deque = collections.deque(
            maxlen=max(size, 1))

    def __len__(self) -> int:
        return len(self._entries)

    def reset(self) -> None:
        """Forget every batch."""
        self._entries.clear()

    def push(self, prototypes: Tensor, labels: Tensor, tags: Tensor) -> None:
        """Store a batch's segments (detached copies); drop the oldest.

        Args:
            prototypes (Tensor): ``(S, D)`` unit prototypes.
            labels (Tensor): ``(S, )`` long segment labels (``-1``:
                unlabelled).
            tags (Tensor): ``(S, T)`` multi-hot tags of the segments'
                images.
        """
        if self.size == 0:
            return
        if not (prototypes.shape[0] == labels.shape[0] == tags.shape[0]):
            raise ValueError('SegmentMemoryBank.push: prototypes, labels and '
                             'tags must have as many rows')
        if self._entries:
            p, _, t = self._entries[-1]
            if p.shape[1:] != prototypes.shape[1:] or \
                    t.shape[1:] != tags.shape[1:]:
                raise ValueError(
                    'SegmentMemoryBank.push: the embedding or tag width '
                    f'changed ({tuple(p.shape[1:])}, {tuple(t.shape[1:])} '
                    f'-> {tuple(prototypes.shape[1:])}, '
                    f'{tuple(tags.shape[1:])}); reset() the bank first')
        self._entries.append((prototypes.detach().clone(),
                              labels.detach().clone(),
                              tags.detach().clone()))

    def read(self) -> Optional[Tuple[Tensor, Tensor, Tensor]]:
        """The stored ``(prototypes, labels, tags)``, concatenated oldest
        first, or None when empty."""
        if not self._entries:
            return None
        parts: List[Tuple[Tensor, ...]] = list(zip(*self._entries))
        return tuple(torch.cat(p) for p in parts)  # type: ignore
