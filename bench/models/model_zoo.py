"""The benchmark's PyTorch models, written out here (torchvision is not needed).

Each entry builds a module with random weights (the caller seeds torch) and its example inputs.
The architectures follow the published layer tables (ResNet, MobileNetV3-small, EfficientNet-B0,
ViT/DeiT, BERT-base, GPT-2 small, Whisper's encoder, a UNet); they are this project's own
definitions, equal in shape and operator mix to the originals, not their code. Batch and
layer norms get random statistics so that nothing folds to a trivial constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F


def _randomize_norms(module: nn.Module) -> nn.Module:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return module.eval()


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
            act: Callable[[], nn.Module] | None = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# ---- ResNet (basic and bottleneck blocks) -------------------------------------------------

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = width * self.expansion
        self.body = nn.Sequential(conv_bn(cin, width, 3, stride), conv_bn(width, cout, 3, act=None))
        self.skip = (conv_bn(cin, cout, 1, stride, act=None)
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return F.relu(self.body(x) + self.skip(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int):
        super().__init__()
        cout = width * self.expansion
        self.body = nn.Sequential(conv_bn(cin, width, 1), conv_bn(width, width, 3, stride),
                                  conv_bn(width, cout, 1, act=None))
        self.skip = (conv_bn(cin, cout, 1, stride, act=None)
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        return F.relu(self.body(x) + self.skip(x))


class ResNet(nn.Module):
    def __init__(self, block, depths: list[int], classes: int = 1000):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], 64
        for i, depth in enumerate(depths):
            width = 64 << i
            for j in range(depth):
                stages.append(block(cin, width, 2 if (j == 0 and i > 0) else 1))
                cin = width * block.expansion
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# ---- MobileNetV3-small and EfficientNet-B0 (inverted residuals with squeeze-excite) --------

class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeezed: int, gate: Callable[[], nn.Module], act):
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.act, self.gate = act(), gate()

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.expand(self.act(self.reduce(s))))


class InvertedResidual(nn.Module):
    def __init__(self, cin, expanded, cout, k, stride, act, se_squeezed: int | None,
                 se_gate=nn.Hardsigmoid, se_act=nn.ReLU):
        super().__init__()
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(conv_bn(cin, expanded, 1, act=act))
        layers.append(conv_bn(expanded, expanded, k, stride, groups=expanded, act=act))
        if se_squeezed:
            layers.append(SqueezeExcite(expanded, se_squeezed, se_gate, se_act))
        layers.append(conv_bn(expanded, cout, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


def _round8(v: float) -> int:
    return max(8, int(v + 4) // 8 * 8)


class MobileNetV3Small(nn.Module):
    # (kernel, expanded, out, squeeze-excite, activation, stride) per the paper's table 2.
    TABLE = [(3, 16, 16, True, "RE", 2), (3, 72, 24, False, "RE", 2), (3, 88, 24, False, "RE", 1),
             (5, 96, 40, True, "HS", 2), (5, 240, 40, True, "HS", 1), (5, 240, 40, True, "HS", 1),
             (5, 120, 48, True, "HS", 1), (5, 144, 48, True, "HS", 1), (5, 288, 96, True, "HS", 2),
             (5, 576, 96, True, "HS", 1), (5, 576, 96, True, "HS", 1)]

    def __init__(self, classes: int = 1000):
        super().__init__()
        blocks, cin = [conv_bn(3, 16, 3, 2, act=nn.Hardswish)], 16
        for k, exp, out, se, a, s in self.TABLE:
            act = nn.ReLU if a == "RE" else nn.Hardswish
            blocks.append(InvertedResidual(cin, exp, out, k, s, act, _round8(exp / 4) if se else None))
            cin = out
        blocks.append(conv_bn(cin, 576, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Linear(576, 1024), nn.Hardswish(), nn.Linear(1024, classes))

    def forward(self, x):
        return self.head(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


class EfficientNetB0(nn.Module):
    # (expansion, kernel, stride, out, repeats) per stage.
    STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
              (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]

    def __init__(self, classes: int = 1000):
        super().__init__()
        blocks, cin = [conv_bn(3, 32, 3, 2, act=nn.SiLU)], 32
        for e, k, s, out, n in self.STAGES:
            for i in range(n):
                blocks.append(InvertedResidual(cin, cin * e, out, k, s if i == 0 else 1, nn.SiLU,
                                               max(1, cin // 4), nn.Sigmoid, nn.SiLU))
                cin = out
        blocks.append(conv_bn(cin, 1280, 1, act=nn.SiLU))
        self.features = nn.Sequential(*blocks)
        self.fc = nn.Linear(1280, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


# ---- Transformers ---------------------------------------------------------------------------

class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, causal: bool = False):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) * (1.0 / math.sqrt(d // self.heads))
        if self.causal:
            mask = torch.ones(t, t, dtype=torch.bool).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
        y = scores.softmax(-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Pre-norm (ViT, GPT-2, Whisper) or post-norm (BERT) transformer layer."""

    def __init__(self, dim: int, heads: int, causal: bool = False, post_norm: bool = False):
        super().__init__()
        self.post_norm = post_norm
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, causal)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        if self.post_norm:
            x = self.norm1(x + self.attn(x))
            return self.norm2(x + self.mlp(x))
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, image: int = 224, patch: int = 16,
                 classes: int = 1000):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        tokens = (image // patch) ** 2 + 1
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        return self.head(self.norm(self.blocks(x))[:, 0])


class TextEncoder(nn.Module):
    """BERT-base (post-norm, bidirectional) or GPT-2 small (pre-norm, causal) over token ids."""

    def __init__(self, dim=768, depth=12, heads=12, vocab=30522, positions=512, causal=False):
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(positions, dim)
        self.causal = causal
        self.blocks = nn.Sequential(
            *[Block(dim, heads, causal=causal, post_norm=not causal) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.tokens(ids) + self.positions(pos)
        if not self.causal:
            x = self.norm(x)  # BERT normalises the embeddings, GPT-2 the last layer
            return self.blocks(x)
        return self.norm(self.blocks(x))


class WhisperEncoder(nn.Module):
    def __init__(self, mels=80, dim=384, depth=4, heads=6, frames=3000):
        super().__init__()
        self.conv1 = nn.Conv1d(mels, dim, 3, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, 3, stride=2, padding=1)
        self.pos = nn.Parameter(torch.randn(1, frames // 2, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, mel):
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        return self.norm(self.blocks(x + self.pos))


class UNet(nn.Module):
    def __init__(self, base=32, levels=4, cin=3, cout=3):
        super().__init__()

        def double(a, b):
            return nn.Sequential(conv_bn(a, b, 3), conv_bn(b, b, 3))

        widths = [base << i for i in range(levels)]
        self.down = nn.ModuleList()
        c = cin
        for w in widths:
            self.down.append(double(c, w))
            c = w
        self.bottom = double(c, c * 2)
        c *= 2
        self.up, self.merge = nn.ModuleList(), nn.ModuleList()
        for w in reversed(widths):
            self.up.append(nn.ConvTranspose2d(c, w, 2, 2))
            self.merge.append(double(2 * w, w))
            c = w
        self.out = nn.Conv2d(c, cout, 1)

    def forward(self, x):
        skips = []
        for d in self.down:
            x = d(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips)):
            x = merge(torch.cat([up(x), skip], 1))
        return self.out(x)


# ---- The suite ------------------------------------------------------------------------------

@dataclass
class Spec:
    name: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], dict[str, torch.Tensor]]
    # Input name -> the dimension that may vary (Core ML RangeDim and ONNX dynamic axis).
    flexible: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # dim, lo, hi


def _image(size=224):
    return lambda: {"image": torch.randn(1, 3, size, size)}


def _ids(length: int, vocab: int):
    return lambda: {"ids": torch.randint(0, vocab, (1, length), dtype=torch.int32)}


SPECS = {s.name: s for s in [
    Spec("resnet18", lambda: _randomize_norms(ResNet(BasicBlock, [2, 2, 2, 2])), _image()),
    Spec("resnet50", lambda: _randomize_norms(ResNet(Bottleneck, [3, 4, 6, 3])), _image()),
    Spec("mobilenetv3s", lambda: _randomize_norms(MobileNetV3Small()), _image()),
    Spec("efficientnetb0", lambda: _randomize_norms(EfficientNetB0()), _image()),
    Spec("deit_tiny", lambda: ViT(192, 12, 3).eval(), _image()),
    Spec("vit_b16", lambda: ViT(768, 12, 12).eval(), _image()),
    Spec("bert_base", lambda: TextEncoder().eval(), _ids(128, 30522), {"ids": (1, 1, 512)}),
    Spec("gpt2_small", lambda: TextEncoder(vocab=50257, positions=1024, causal=True).eval(),
         _ids(128, 50257)),
    Spec("whisper_tiny_enc", lambda: WhisperEncoder().eval(), lambda: {"mel": torch.randn(1, 80, 3000)}),
    Spec("unet", lambda: _randomize_norms(UNet()), _image(256)),
]}
