# Copyright (c) OpenMMLab. All rights reserved.
"""The wide ResNet-38d backbone of PSA, SEAM and EPS, and its converter."""
import functools
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmwsss.utils.typing_utils import ConfigType, OptMultiConfig

__all__ = ['ResNet38d', 'convert_psa_resnet38d']

# One row per residual block, in forward order:
# (PSA name, stage, kind, in, mid, out, stride, first dilation, dilation).
# ``mid`` is the width of the 3x3 convolutions of a basic block; bottleneck
# blocks derive their widths from ``out`` (out // 4 and out // 2).
_BLOCKS = (
    ('b2', 1, 'basic', 64, 128, 128, 2, 1, 1),
    ('b2_1', 1, 'basic', 128, 128, 128, 1, 1, 1),
    ('b2_2', 1, 'basic', 128, 128, 128, 1, 1, 1),
    ('b3', 2, 'basic', 128, 256, 256, 2, 1, 1),
    ('b3_1', 2, 'basic', 256, 256, 256, 1, 1, 1),
    ('b3_2', 2, 'basic', 256, 256, 256, 1, 1, 1),
    ('b4', 3, 'basic', 256, 512, 512, 2, 1, 1),
    ('b4_1', 3, 'basic', 512, 512, 512, 1, 1, 1),
    ('b4_2', 3, 'basic', 512, 512, 512, 1, 1, 1),
    ('b4_3', 3, 'basic', 512, 512, 512, 1, 1, 1),
    ('b4_4', 3, 'basic', 512, 512, 512, 1, 1, 1),
    ('b4_5', 3, 'basic', 512, 512, 512, 1, 1, 1),
    ('b5', 4, 'basic', 512, 512, 1024, 1, 1, 2),
    ('b5_1', 4, 'basic', 1024, 512, 1024, 1, 2, 2),
    ('b5_2', 4, 'basic', 1024, 512, 1024, 1, 2, 2),
    ('b6', 5, 'bottleneck', 1024, None, 2048, 1, 4, 4),
    ('b7', 5, 'bottleneck', 2048, None, 4096, 1, 4, 4),
)
_NUM_STAGES = 5
_STEM_CHANNELS = 64
_LEVEL_CHANNELS = (64, 128, 256, 512, 1024, 4096)
_LEVEL_STRIDES = (1, 2, 4, 8, 8, 8)

# PSA layer name inside a block -> mmwsss layer name.
_PSA_LAYERS = {
    'bn_branch2a': 'norm1',
    'conv_branch2a': 'conv1',
    'bn_branch2b1': 'norm2',
    'conv_branch2b1': 'conv2',
    'bn_branch2b2': 'norm3',
    'conv_branch2b2': 'conv3',
    'conv_branch1': 'downsample',
}
_MM_LAYERS = {v: k for k, v in _PSA_LAYERS.items()}


class PreActBlock(nn.Module):
    """Pre-activation block with two 3x3 convolutions (PSA ``ResBlock``).

    ``y = shortcut + conv2(relu(norm2(conv1(p))))`` with the pre-activation
    ``p = relu(norm1(x))``; the shortcut is ``x`` itself, or the 1x1
    convolution ``downsample(p)`` when the block changes the width or the
    resolution.

    Args:
        in_channels (int): Input channels.
        mid_channels (int): Output channels of the first convolution.
        out_channels (int): Output channels.
        stride (int): Stride of the first convolution and of the shortcut.
            Defaults to 1.
        first_dilation (int): Dilation (and padding) of the first
            convolution. Defaults to 1.
        dilation (int): Dilation (and padding) of the second convolution.
            Defaults to 1.
        norm_cfg (dict): Normalization layer config.
            Defaults to ``dict(type='BN', requires_grad=True)``.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        stride: int = 1,
        first_dilation: int = 1,
        dilation: int = 1,
        norm_cfg: ConfigType = dict(type='BN', requires_grad=True)
    ) -> None:
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv1 = nn.Conv2d(
            in_channels,
            mid_channels,
            3,
            stride,
            padding=first_dilation,
            dilation=first_dilation,
            bias=False)
        self.norm2 = build_norm_layer(norm_cfg, mid_channels)[1]
        self.conv2 = nn.Conv2d(
            mid_channels,
            out_channels,
            3,
            padding=dilation,
            dilation=dilation,
            bias=False)
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Conv2d(
                in_channels, out_channels, 1, stride, bias=False)
        else:
            self.downsample = None

    def forward(
            self,
            x: Tensor,
            return_preact: bool = False
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Apply the block.

        Args:
            x (Tensor): Input ``(B, C_in, H, W)``.
            return_preact (bool): Also return ``relu(norm1(x))``.
                Defaults to False.

        Returns:
            Tensor | tuple[Tensor, Tensor]: The output, and the
            pre-activation of the input if ``return_preact``.
        """
        preact = F.relu(self.norm1(x), inplace=True)
        shortcut = x if self.downsample is None else self.downsample(preact)
        out = self.conv1(preact)
        out = self.conv2(F.relu(self.norm2(out), inplace=True))
        out = out + shortcut
        return (out, preact) if return_preact else out


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck block with dropout (PSA ``ResBlock_bot``).

    ``y = shortcut + conv3(drop(relu(norm3(conv2(drop(relu(norm2(
    conv1(p)))))))))`` with ``p = relu(norm1(x))``; ``conv1`` and ``conv3``
    are 1x1 (``out_channels // 4`` and ``out_channels`` wide), ``conv2`` is
    a dilated 3x3 convolution ``out_channels // 2`` wide, and ``drop`` is
    channel-wise dropout (``Dropout2d``). The shortcut is ``x`` or the 1x1
    convolution ``downsample(p)`` when the shape changes.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of ``conv1`` and of the shortcut.
            Defaults to 1.
        dilation (int): Dilation (and padding) of ``conv2``. Defaults to 1.
        dropout (float): Ratio of both ``Dropout2d`` layers. Defaults to 0.
        norm_cfg (dict): Normalization layer config.
            Defaults to ``dict(type='BN', requires_grad=True)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        dilation: int = 1,
        dropout: float = 0.0,
        norm_cfg: ConfigType = dict(type='BN', requires_grad=True)
    ) -> None:
        super().__init__()
        quarter, half = out_channels // 4, out_channels // 2
        self.norm1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv1 = nn.Conv2d(in_channels, quarter, 1, stride, bias=False)
        self.norm2 = build_norm_layer(norm_cfg, quarter)[1]
        self.drop2 = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(
            quarter, half, 3, padding=dilation, dilation=dilation, bias=False)
        self.norm3 = build_norm_layer(norm_cfg, half)[1]
        self.drop3 = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.conv3 = nn.Conv2d(half, out_channels, 1, bias=False)
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Conv2d(
                in_channels, out_channels, 1, stride, bias=False)
        else:
            self.downsample = None

    def forward(
            self,
            x: Tensor,
            return_preact: bool = False
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Apply the block; see :meth:`PreActBlock.forward`."""
        preact = F.relu(self.norm1(x), inplace=True)
        shortcut = x if self.downsample is None else self.downsample(preact)
        out = self.conv1(preact)
        out = self.conv2(self.drop2(F.relu(self.norm2(out), inplace=True)))
        out = self.conv3(self.drop3(F.relu(self.norm3(out), inplace=True)))
        out = out + shortcut
        return (out, preact) if return_preact else out


@MODELS.register_module()
class ResNet38d(BaseModule):
    """Wide ResNet-38 with dilation of `Wider or Deeper
    <https://arxiv.org/abs/1611.10080>`_ (Wu et al., PR 2019), as used by
    PSA, SEAM and EPS.

    The layer layout follows jiwoon-ahn/psa ``network/resnet38d.py``. All
    blocks are pre-activation blocks (norm -> ReLU -> conv); a block that
    changes the shape feeds its normalised and rectified input, not the raw
    input, to its 1x1 shortcut convolution. The network has a 3x3 stem
    convolution (PSA ``conv1a``, 64 channels, stride 1) and five stages:

    ======  =================  =============  ============  ========
    stage   PSA blocks         width          first stride  dilation
    ======  =================  =============  ============  ========
    1       b2, b2_1, b2_2     128            2             1
    2       b3, b3_1, b3_2     256            2             1
    3       b4, b4_1 .. b4_5   512            2             1
    4       b5, b5_1, b5_2     512 -> 1024    1             1 then 2
    5       b6, b7             bottlenecks    1             4
    ======  =================  =============  ============  ========

    ``b6`` (1024 -> 512, 1024, 2048) and ``b7`` (2048 -> 1024, 2048, 4096)
    are bottlenecks with ``Dropout2d`` before their second and third
    convolutions; a final norm (PSA ``bn7``) closes the network. The output
    stride is 8.

    Output levels. Level ``i`` is the *activated* output of stage ``i``
    (stage 0 being the stem): the stage output passed through the first
    norm and ReLU of the next block, which the next block computes anyway,
    and, for the last level, ``relu(bn7(x))``. Levels 3, 4 and 5 are PSA's
    ``forward_as_dict`` features ``conv4``, ``conv5`` and ``conv6``
    (AffinityNet reads all three, CAM/SEAM/EPS read ``conv6``):

    =====  ========  ======  ================================
    index  channels  stride  tensor (PSA names)
    =====  ========  ======  ================================
    0      64        1       relu(b2.bn_branch2a(conv1a))
    1      128       2       relu(b3.bn_branch2a(b2_2))
    2      256       4       relu(b4.bn_branch2a(b3_2))
    3      512       8       relu(b5.bn_branch2a(b4_5)): conv4
    4      1024      8       relu(b6.bn_branch2a(b5_2)): conv5
    5      4096      8       relu(bn7(b7)): conv6
    =====  ========  ======  ================================

    PSA-style training freezes the stem and stage 1 (``not_training`` of
    ``resnet38_cls.py``, SEAM, EPS: ``frozen_stages=1``; the plain
    ``resnet38d.Net`` freezes only ``conv1a``: ``frozen_stages=0``) and
    keeps every BN in eval mode with frozen affine parameters
    (``norm_eval=True`` with ``norm_cfg=dict(type='BN',
    requires_grad=False)``). ImageNet weights published in the PSA/SEAM
    format are converted with :func:`convert_psa_resnet38d` (or
    ``tools/model_converters/psa2mmwsss.py``).

    Args:
        in_channels (int): Channels of the input image. Defaults to 3.
        out_indices (Sequence[int]): Strictly increasing output levels in
            ``[0, 5]`` (see the table above). Defaults to (5,).
        dropout (Sequence[float]): ``Dropout2d`` ratios inside the
            bottlenecks ``b6`` and ``b7``. Defaults to (0.3, 0.5).
        norm_cfg (dict): Config of every normalization layer.
            Defaults to ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep the normalization layers in eval mode
            (frozen running statistics) in :meth:`train`. Defaults to False.
        frozen_stages (int): Freeze (eval mode and ``requires_grad=False``)
            the stem and stages ``1 .. frozen_stages``; -1 freezes nothing,
            0 only the stem, 5 also the final norm. Defaults to -1.
        init_cfg (dict | list[dict], optional): Initialization config; None
            keeps PyTorch's default initialization of each layer.
            Defaults to None.
    """

    num_levels = len(_LEVEL_CHANNELS)
    #: Channels of each output level.
    level_channels = _LEVEL_CHANNELS
    #: Stride (input size / feature size) of each output level.
    level_strides = _LEVEL_STRIDES

    def __init__(self,
                 in_channels: int = 3,
                 out_indices: Sequence[int] = (5, ),
                 dropout: Sequence[float] = (0.3, 0.5),
                 norm_cfg: ConfigType = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 frozen_stages: int = -1,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        out_indices = tuple(int(i) for i in out_indices)
        if not out_indices:
            raise ValueError('out_indices must name at least one level')
        if any(i < 0 or i >= self.num_levels for i in out_indices):
            raise ValueError(f'out_indices must lie in [0, '
                             f'{self.num_levels - 1}], got {out_indices}')
        if any(a >= b for a, b in zip(out_indices, out_indices[1:])):
            raise ValueError('out_indices must be strictly increasing, got '
                             f'{out_indices}')
        if not -1 <= frozen_stages <= _NUM_STAGES:
            raise ValueError(f'frozen_stages must lie in [-1, {_NUM_STAGES}]'
                             f', got {frozen_stages}')
        dropout = tuple(float(p) for p in dropout)
        if len(dropout) != 2 or any(not 0 <= p < 1 for p in dropout):
            raise ValueError('dropout must hold two ratios in [0, 1) for b6 '
                             f'and b7, got {dropout}')
        self.in_channels = in_channels
        self.out_indices = out_indices
        self.dropout = dropout
        self.norm_cfg = norm_cfg
        self.norm_eval = norm_eval
        self.frozen_stages = frozen_stages

        self.stem = nn.Conv2d(
            in_channels, _STEM_CHANNELS, 3, padding=1, bias=False)
        stages: Dict[int, List[nn.Module]] = {
            s: []
            for s in range(1, _NUM_STAGES + 1)
        }
        bottlenecks = 0
        for (_, stage, kind, cin, mid, cout, stride, first_dil,
             dil) in _BLOCKS:
            if kind == 'basic':
                block = PreActBlock(
                    cin,
                    mid,
                    cout,
                    stride=stride,
                    first_dilation=first_dil,
                    dilation=dil,
                    norm_cfg=norm_cfg)
            else:
                block = PreActBottleneck(
                    cin,
                    cout,
                    stride=stride,
                    dilation=dil,
                    dropout=dropout[bottlenecks],
                    norm_cfg=norm_cfg)
                bottlenecks += 1
            stages[stage].append(block)
        for stage, blocks in stages.items():
            self.add_module(f'stage{stage}', nn.Sequential(*blocks))
        self.final_norm = build_norm_layer(norm_cfg, _BLOCKS[-1][5])[1]

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Compute the selected output levels.

        Args:
            x (Tensor): Images ``(B, in_channels, H, W)``.

        Returns:
            tuple[Tensor]: One feature per entry of ``out_indices``, in that
            order; level ``i`` has ``level_channels[i]`` channels and size
            ``ceil(H / level_strides[i]) x ceil(W / level_strides[i])``.
        """
        outs = []
        x = self.stem(x)
        for level in range(_NUM_STAGES):
            blocks = getattr(self, f'stage{level + 1}')
            # The first block of stage ``level + 1`` normalises and
            # rectifies the output of stage ``level``: that is level
            # ``level``.
            x, activated = blocks[0](x, return_preact=True)
            if level in self.out_indices:
                outs.append(activated)
            for block in blocks[1:]:
                x = block(x)
        if _NUM_STAGES in self.out_indices:
            outs.append(F.relu(self.final_norm(x), inplace=True))
        return tuple(outs)

    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules = [self.stem]
        modules += [
            getattr(self, f'stage{s}')
            for s in range(1, self.frozen_stages + 1)
        ]
        if self.frozen_stages == _NUM_STAGES:
            modules.append(self.final_norm)
        return modules

    def train(self, mode: bool = True) -> 'ResNet38d':
        """Set the training mode, honouring ``frozen_stages`` and
        ``norm_eval``.

        Frozen modules always stay in eval mode with ``requires_grad``
        off; with ``norm_eval`` every normalization layer stays in eval
        mode (its running statistics are not updated) while dropout still
        follows ``mode``.
        """
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self


# ------------------------------------------------------------- converter


@functools.lru_cache(maxsize=None)
def _psa_block_names() -> Dict[Tuple[int, int], str]:
    """``(stage, index in stage) -> PSA block name``."""
    names, counts = {}, {}
    for row in _BLOCKS:
        stage = row[1]
        index = counts.get(stage, 0)
        counts[stage] = index + 1
        names[(stage, index)] = row[0]
    return names


_BLOCK_KEY = re.compile(r'^stage(\d+)\.(\d+)\.(\w+)\.(\w+)$')


def _to_psa_key(key: str) -> str:
    """The PSA name of an mmwsss :class:`ResNet38d` state dict key."""
    if key.startswith('stem.'):
        return 'conv1a.' + key[len('stem.'):]
    if key.startswith('final_norm.'):
        return 'bn7.' + key[len('final_norm.'):]
    match = _BLOCK_KEY.match(key)
    if match is None:
        raise ValueError(f'unexpected ResNet38d key {key!r}')
    stage, index, layer, param = match.groups()
    block = _psa_block_names()[(int(stage), int(index))]
    return f'{block}.{_MM_LAYERS[layer]}.{param}'


@functools.lru_cache(maxsize=None)
def _reference_keys() -> Tuple[Tuple[str, str, Tuple[int, ...]], ...]:
    """``(mmwsss key, PSA key, shape)`` of every ResNet38d state entry.

    Read from a default :class:`ResNet38d` built on the meta device, so the
    converter and the model cannot disagree.
    """
    with torch.device('meta'):
        model = ResNet38d()
    return tuple((key, _to_psa_key(key), tuple(value.shape))
                 for key, value in model.state_dict().items())


def convert_psa_resnet38d(
    state_dict: Mapping[str, Tensor],
    return_dropped: bool = False
) -> Union['OrderedDict[str, Tensor]', Tuple['OrderedDict[str, Tensor]',
                                             List[str]]]:
    """Convert a PSA/SEAM-style ResNet-38d state dict to :class:`ResNet38d`.

    The input is the torch state dict the PSA family publishes (e.g.
    SEAM's ``resnet38_ilsvrc-cls_rna-a1_cls1000_ep-0001.pth``, or the
    output of PSA's own MXNet converter), possibly saved from a
    ``DataParallel`` model and possibly holding a head. Names map as:

    * ``conv1a.*`` -> ``stem.*``; ``bn7.*`` -> ``final_norm.*``;
    * block ``b{s}`` / ``b{s}_{j}`` (s = 2..5) -> ``stage{s-1}.{j}``
      (``j = 0`` without suffix); ``b6`` -> ``stage5.0``, ``b7`` ->
      ``stage5.1``;
    * inside a block: ``bn_branch2a`` -> ``norm1``, ``conv_branch2a`` ->
      ``conv1``, ``bn_branch2b1`` -> ``norm2``, ``conv_branch2b1`` ->
      ``conv2``, ``bn_branch2b2`` -> ``norm3``, ``conv_branch2b2`` ->
      ``conv3``, ``conv_branch1`` -> ``downsample``; parameter names
      (``weight``, ``bias``, ``running_mean``, ...) are kept.

    Leading ``module.`` prefixes are stripped. Keys outside the backbone
    (heads such as ``fc8``, ``f8_3``, ``f9``) are dropped and logged. BN
    ``num_batches_tracked`` counters, which MXNet-converted dicts lack, are
    set to 0 when absent so that the result loads with ``strict=True``.

    Args:
        state_dict (Mapping[str, Tensor]): The PSA-named state dict.
        return_dropped (bool): Also return the (prefix-stripped) names of
            the dropped keys. Defaults to False.

    Returns:
        OrderedDict[str, Tensor] | tuple[OrderedDict, list[str]]: The
        state dict for :class:`ResNet38d` (tensors are shared, not copied),
        and the dropped key names if ``return_dropped``.

    Raises:
        KeyError: If backbone keys are missing (the dict is not a PSA
            ResNet-38d state dict); the message names them.
        ValueError: If a tensor has the wrong shape.
    """
    src: Dict[str, Tensor] = OrderedDict()
    for key, value in state_dict.items():
        name = key
        while name.startswith('module.'):
            name = name[len('module.'):]
        if name in src:
            raise ValueError(f'key {name!r} appears twice once the '
                             "'module.' prefixes are stripped")
        src[name] = value

    converted: 'OrderedDict[str, Tensor]' = OrderedDict()
    missing, used = [], set()
    for key, psa_key, shape in _reference_keys():
        if psa_key not in src:
            if key.endswith('.num_batches_tracked'):
                converted[key] = torch.tensor(0, dtype=torch.long)
            else:
                missing.append(psa_key)
            continue
        value = src[psa_key]
        if tuple(value.shape) != shape:
            raise ValueError(f'{psa_key!r} has shape {tuple(value.shape)} '
                             f'but ResNet-38d expects {shape}')
        converted[key] = value
        used.add(psa_key)
    if missing:
        shown = ', '.join(repr(k) for k in missing[:10])
        more = f' and {len(missing) - 10} more' if len(missing) > 10 else ''
        hint = ''
        if 'stem.weight' in src:
            hint = ' (it looks already converted to mmwsss names)'
        raise KeyError(
            f'not a PSA/SEAM ResNet-38d state dict{hint}: {len(missing)} '
            f'backbone keys are missing: {shown}{more}')
    dropped = [k for k in src if k not in used]
    if dropped:
        print_log(
            f'convert_psa_resnet38d: dropped {len(dropped)} non-backbone '
            f'keys: {", ".join(dropped)}',
            logger='current')
    return (converted, dropped) if return_dropped else converted
