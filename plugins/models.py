"""The networks of the SMA paper: SMA-VGG ("VGG8") and MS-ResNet-18/34/104, with and without SMA.

Every model takes ``[T, B, C_in, H, W]`` and returns per-step logits ``[T, B, K]`` (the prediction is
their time mean). Neurons and attention modules are created by registry name, so
``neuron="plif"`` or a third-party attention swaps in without code changes. The ``-sma`` names are the
same builders with ``attention="sma"`` (timm-style variants); ``test-*`` models are tiny versions for
fast contract tests.
"""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator
from torch import Tensor, nn

from snnctl import hookimpl
from snnctl.nn import SeqFold, SpikingModel, StepDropout, make_attention, make_neuron


def merge_attention_args(attention: str, defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` over those ``defaults`` that the attention's own config accepts."""
    import snnctl

    fields = snnctl.registry().get("attention", attention).config.model_fields
    return {**{k: v for k, v in defaults.items() if k in fields}, **given}


# -- SMA-VGG ----------------------------------------------------------------------------------------------
class VGG(SpikingModel):
    """SMA-VGG: blocks conv3x3 -> [attention] -> BN -> neuron -> 2x2 pool (max or average), then an FC head with spiking layers."""

    def __init__(self, cfg: Any) -> None:
        """Build from a config with the fields of :class:`VGGConfig` (attributes)."""
        super().__init__(cfg.timesteps, cfg.in_channels, cfg.input_size, cfg.num_classes)
        neuron, neuron_args, attention, timesteps = cfg.neuron, cfg.neuron_args, cfg.attention, cfg.timesteps
        att_args = None
        if attention != "none":
            # SMA's branches spike like the host network unless told otherwise (the released SMA-VGG).
            att_args = merge_attention_args(attention, {"branch": neuron, "branch_args": neuron_args}, cfg.attention_args)
        blocks = []
        c_in = cfg.in_channels
        for i, width in enumerate(cfg.widths, start=1):
            layers: OrderedDict[str, nn.Module] = OrderedDict(conv=SeqFold(nn.Conv2d(c_in, width, 3, padding=1)))
            if att_args is not None and i in cfg.attention_blocks:
                layers["attention"] = make_attention(attention, width, timesteps, att_args)
            layers["norm"] = SeqFold(nn.BatchNorm2d(width))
            layers["neuron"] = make_neuron(neuron, neuron_args, features=width, step_mode="m")
            layers["pool"] = SeqFold(nn.MaxPool2d(2, 2) if cfg.pool == "max" else nn.AvgPool2d(2, 2))
            blocks.append(nn.Sequential(layers))
            c_in = width
        self.features = nn.Sequential(*blocks)
        head: list[nn.Module] = [SeqFold(nn.AdaptiveAvgPool2d(cfg.pool_size), nn.Flatten())]
        f_in = c_in * cfg.pool_size * cfg.pool_size
        for width in cfg.hidden:
            head += [SeqFold(nn.Linear(f_in, width)), make_neuron(neuron, neuron_args, features=width, step_mode="m"),
                     StepDropout(cfg.dropout)]
            f_in = width
        head.append(SeqFold(nn.Linear(f_in, cfg.num_classes)))
        self.head = nn.Sequential(*head)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.head(self.features(x))


PRESETS: dict[str, dict[str, Any]] = {
    "dvsgesture": dict(in_channels=2, num_classes=11, input_size=(128, 128), timesteps=16),
    "cifar10dvs": dict(in_channels=2, num_classes=10, input_size=(128, 128), timesteps=10),
    "ncaltech101": dict(in_channels=2, num_classes=101, input_size=(180, 240), timesteps=14),
}


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    in_channels: Optional[int] = Field(None, gt=0, description="input channels (2 for ON/OFF event frames)")
    num_classes: Optional[int] = Field(None, gt=1, description="number of classes K")
    input_size: Optional[tuple[int, int]] = Field(None, description="input height and width")
    timesteps: Optional[int] = Field(None, gt=0, description="time steps T (frames); SMA is built for this T")
    neuron: str = Field("lif", description="neuron of every spiking layer (registry name)")
    neuron_args: dict[str, Any] = Field(default_factory=dict, description="arguments of the neuron")
    attention: str = Field("none", description="attention module (registry name; 'none' for no attention)")
    attention_args: dict[str, Any] = Field(default_factory=dict, description="arguments of the attention module")

    @field_validator("input_size")
    @classmethod
    def _positive(cls, v: Optional[tuple[int, int]]) -> Optional[tuple[int, int]]:
        if v is not None and min(v) < 1:
            raise ValueError("height and width must be positive")
        return v


class VGGConfig(_Config):
    preset: Literal["dvsgesture", "cifar10dvs", "ncaltech101", "none"] = Field(
        "dvsgesture", description="dataset settings (channels, classes, size, T) for fields left unset")
    widths: list[int] = Field([64, 128, 256, 512, 512], min_length=1, description="output channels of the conv blocks")
    hidden: list[int] = Field([2048, 1024], description="widths of the spiking FC layers of the head")
    pool_size: int = Field(3, gt=0, description="adaptive average pool size before the head")
    pool: Literal["max", "avg"] = Field("max", description="2x2 pooling after each conv block: max (the paper's) or avg "
                                                           "(average pooling, which NIR can express)")
    attention_blocks: list[int] = Field([2, 3], description="1-based conv blocks followed by attention")
    dropout: float = Field(0.5, ge=0, lt=1, description="dropout after each spiking FC layer (one mask per sample)")

    @model_validator(mode="after")
    def _fill(self) -> "VGGConfig":
        preset = PRESETS.get(self.preset, {})
        for key, value in preset.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        missing = [k for k in ("in_channels", "num_classes", "input_size", "timesteps") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"set {', '.join(missing)} or choose a preset")
        bad = [b for b in self.attention_blocks if not 1 <= b <= len(self.widths)]
        if bad:
            raise ValueError(f"attention_blocks {bad} outside 1..{len(self.widths)}")
        return self


def build_vgg(**cfg: Any) -> VGG:
    return VGG(SimpleNamespace(**cfg))


# -- MS-ResNet ---------------------------------------------------------------------------------------------
def _bn(channels: int, gamma: float) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels)
    nn.init.constant_(bn.weight, gamma)
    return bn


class MSBlock(nn.Module):
    """MS-ResNet basic block: ``x + BN0(conv(neuron(BN([attention](conv_s(neuron(x)))))))`` (membrane shortcut)."""

    def __init__(self, c_in: int, c_out: int, stride: int, make_act, attention: Optional[nn.Module],
                 shortcut: str, gamma: float) -> None:
        super().__init__()
        self.act1 = make_act(c_in)
        self.conv1 = SeqFold(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False))
        self.attention = attention if attention is not None else nn.Identity()
        self.norm1 = SeqFold(_bn(c_out, gamma))
        self.act2 = make_act(c_out)
        # The branch's last BN starts at zero, so each block starts as the identity.
        self.branch_out = SeqFold(nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), _bn(c_out, 0.0))
        if stride == 1 and c_in == c_out:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "avgpool":
            pool = [nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)] if stride > 1 else []
            self.shortcut = SeqFold(*pool, nn.Conv2d(c_in, c_out, 1, bias=False), _bn(c_out, gamma))
        else:
            self.shortcut = SeqFold(nn.Conv2d(c_in, c_out, 1, stride, bias=False), _bn(c_out, gamma))

    def forward(self, x: Tensor) -> Tensor:
        y = self.norm1(self.attention(self.conv1(self.act1(x))))
        return self.branch_out(self.act2(y)) + self.shortcut(x)


class MSResNet(SpikingModel):
    """MS-ResNet: analog residual stream, spikes inside each block's branch; direct-encoded input."""

    def __init__(self, cfg: Any) -> None:
        """Build from a config with the fields of :class:`ResNetConfig` (attributes)."""
        super().__init__(cfg.timesteps, cfg.in_channels, cfg.input_size, cfg.num_classes)
        layers, widths, bn_gamma, attention = cfg.layers, cfg.widths, cfg.bn_gamma, cfg.attention

        def act(features: int) -> nn.Module:
            return make_neuron(cfg.neuron, cfg.neuron_args, features=features, step_mode="m")

        att_args = merge_attention_args(attention, {"c_reduction": 4.0, "t_reduction": 1.5, "branch": "relu"}, cfg.attention_args) \
            if attention != "none" else None
        if cfg.stem == "7x7":
            self.stem = SeqFold(nn.Conv2d(cfg.in_channels, widths[0], 7, 2, 3, bias=False), _bn(widths[0], bn_gamma))
        else:  # three 3x3 convs (the first strided) without activation between them
            chans = [cfg.in_channels, *cfg.stem_widths, widths[0]]
            convs = [nn.Conv2d(a, b, 3, 2 if i == 0 else 1, 1) for i, (a, b) in enumerate(zip(chans, chans[1:]))]
            self.stem = SeqFold(*convs, _bn(widths[0], bn_gamma))
        blocks = []
        c_in = widths[0]
        for depth, width in zip(layers, widths):
            for j in range(depth):
                use = att_args is not None and (cfg.attention_per_stage == "all" or j < cfg.attention_per_stage)
                att = make_attention(attention, width, cfg.timesteps, att_args) if use else None
                blocks.append(MSBlock(c_in, width, 2 if j == 0 else 1, act, att, cfg.shortcut, bn_gamma))
                c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            act(c_in),
            SeqFold(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
            StepDropout(cfg.dropout),
            SeqFold(nn.Linear(c_in, cfg.num_classes)),
        )

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.head(self.blocks(self.stem(x)))


class ResNetConfig(_Config):
    in_channels: int = Field(3, gt=0, description="input channels (3 for RGB images)")
    num_classes: int = Field(1000, gt=1, description="number of classes K")
    input_size: tuple[int, int] = Field((224, 224), description="input height and width")
    timesteps: int = Field(6, gt=0, description="time steps T (the image is repeated T times); SMA is built for this T")
    neuron: str = Field("ms-lif", description="neuron of every spiking layer (registry name)")
    layers: list[int] = Field([2, 2, 2, 2], min_length=1, description="blocks per stage")
    widths: list[int] = Field([64, 128, 256, 512], min_length=1, description="channels per stage")
    stem: Literal["7x7", "3x3"] = Field("7x7", description="7x7 stride-2 conv, or three 3x3 convs (ResNet-104)")
    stem_widths: list[int] = Field([64, 64], description="channels of the first two convs of the 3x3 stem")
    shortcut: Literal["conv", "avgpool"] = Field("conv", description="downsampling shortcut: strided 1x1 conv, or avg-pool + 1x1 conv")
    attention_per_stage: Union[int, Literal["all"]] = Field(2, description="attention in the first N blocks of each stage, or 'all'")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout before the classifier (one mask per sample)")
    bn_gamma: float = Field(0.5, description="initial BN scale (the neuron threshold); each branch's last BN starts at 0")

    @model_validator(mode="after")
    def _stages(self) -> "ResNetConfig":
        if len(self.layers) != len(self.widths):
            raise ValueError(f"layers ({len(self.layers)} stages) and widths ({len(self.widths)}) must have the same length")
        return self


def build_resnet(**cfg: Any) -> MSResNet:
    return MSResNet(SimpleNamespace(**cfg))


# -- variants ------------------------------------------------------------------------------------------------
def variant(base: type[BaseModel], name: str, **defaults: Any) -> type[BaseModel]:
    """A config class like ``base`` with other defaults (keeps each field's type, constraints and description)."""
    from pydantic.fields import FieldInfo

    fields = {}
    for key, value in defaults.items():
        info = base.model_fields[key]
        # keep the field's constraints (min_length, gt, ...) and description; change only the default
        fields[key] = (info.annotation, FieldInfo.merge_field_infos(info, default=value))
    return create_model(f"{name.title().replace('-', '')}Config", __base__=base, **fields)


RESNETS = {
    "resnet18": dict(layers=[2, 2, 2, 2]),
    "resnet34": dict(layers=[3, 4, 6, 3]),
    "resnet104": dict(layers=[3, 8, 32, 8], stem="3x3", stem_widths=[64, 64], shortcut="avgpool", dropout=0.2),
}

TINY = dict(in_channels=2, num_classes=3, input_size=(16, 16), timesteps=4)


@hookimpl
def register_models(register):
    register("vgg8", build_vgg, config=VGGConfig, description="SMA-VGG backbone without attention (spec §5.1)")
    register("vgg8-sma", build_vgg, config=variant(VGGConfig, "vgg8-sma", attention="sma"),
             description="SMA-VGG: VGG8 with SMA after the conv of blocks 2 and 3")
    for name, arch in RESNETS.items():
        register(name, build_resnet, config=variant(ResNetConfig, name, **arch),
                 description=f"MS-ResNet-{name[6:]} (membrane shortcut) without attention")
        register(f"{name}-sma", build_resnet, config=variant(ResNetConfig, f"{name}-sma", attention="sma", **arch),
                 description=f"MS-ResNet-{name[6:]} with SMA (ReLU branches) in the first two blocks of each stage")
    small = dict(preset="none", widths=[16, 32, 64], hidden=[128], pool_size=2, attention_blocks=[2, 3],
                 in_channels=2, num_classes=8, input_size=(32, 32), timesteps=8)
    register("vgg5", build_vgg, config=variant(VGGConfig, "vgg5", **small),
             description="SMA-VGG scaled down for 32x32 event frames (3 conv blocks, one hidden FC layer)")
    register("vgg5-sma", build_vgg, config=variant(VGGConfig, "vgg5-sma", attention="sma", **small),
             description="vgg5 with SMA after the conv of blocks 2 and 3: the default model of 'snnctl train'")
    tiny_vgg = dict(preset="none", widths=[4, 8], hidden=[16], pool_size=2, attention_blocks=[2], **TINY)
    register("test-vgg", build_vgg, config=variant(VGGConfig, "test-vgg", **tiny_vgg),
             description="tiny VGG for fast tests")
    register("test-vgg-sma", build_vgg, config=variant(VGGConfig, "test-vgg-sma", attention="sma", **tiny_vgg),
             description="tiny VGG with SMA for fast tests")
    tiny_resnet = dict(layers=[1, 1], widths=[4, 8], attention_per_stage="all", **TINY)
    register("test-resnet", build_resnet, config=variant(ResNetConfig, "test-resnet", **tiny_resnet),
             description="tiny MS-ResNet for fast tests")
    register("test-resnet-sma", build_resnet, config=variant(ResNetConfig, "test-resnet-sma", attention="sma", **tiny_resnet),
             description="tiny MS-ResNet with SMA for fast tests")
