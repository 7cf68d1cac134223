"""First-party surrogate gradients: atan, sigmoid, rect, triangle.

Each is the derivative, at ``x = v - threshold``, of a smooth stand-in for the Heaviside step.
``atan`` and ``sigmoid`` equal SpikingJelly's ``surrogate.ATan`` and ``surrogate.Sigmoid``.
"""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from snnctl import hookimpl
from snnctl.nn import Surrogate


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AtanConfig(_Config):
    alpha: float = Field(2.0, gt=0, description="sharpness; the gradient at the threshold is alpha/2")


class ATan(Surrogate):
    """Arctangent: grad = (alpha/2) / (1 + (pi/2 * alpha * x)^2)."""

    def __init__(self, alpha: float = 2.0):
        self.alpha = float(alpha)

    def grad(self, x: Tensor) -> Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * x) ** 2)

    def grad_(self, x: Tensor) -> Tensor:
        # three passes over x: 1 + c^2 x^2 (one addcmul), reciprocal, scale
        c2 = (math.pi / 2 * self.alpha) ** 2
        torch.addcmul(x.new_ones(()), x, x, value=c2, out=x)
        return x.reciprocal_().mul_(self.alpha / 2)


class SigmoidConfig(_Config):
    alpha: float = Field(4.0, gt=0, description="sharpness; the gradient at the threshold is alpha/4")


class Sigmoid(Surrogate):
    """Sigmoid: grad = alpha * s * (1 - s), s = sigmoid(alpha * x)."""

    def __init__(self, alpha: float = 4.0):
        self.alpha = float(alpha)

    # s * (1 - s) is even in x, so it is computed with s = sigmoid(-alpha * |x|) <= 1/2: then
    # 1 - s never cancels, unlike sigmoid(alpha * x) close to 1 (as SpikingJelly writes it).
    def grad(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(x.abs() * -self.alpha)
        return self.alpha * s * (1 - s)

    def grad_(self, x: Tensor) -> Tensor:
        s = x.abs_().mul_(-self.alpha).sigmoid_()
        return s.addcmul_(s, s, value=-1.0).mul_(self.alpha)  # s - s^2


class RectConfig(_Config):
    width: float = Field(1.0, gt=0, description="window width around the threshold; height is 1/width")


class Rect(Surrogate):
    """Rectangular window: grad = 1/width where |x| < width/2, else 0 (MS-ResNet's surrogate)."""

    def __init__(self, width: float = 1.0):
        self.width = float(width)

    def grad(self, x: Tensor) -> Tensor:
        return (x.abs() < self.width / 2).to(x.dtype) / self.width

    def grad_(self, x: Tensor) -> Tensor:
        return x.abs_().lt_(self.width / 2).div_(self.width)  # comparisons into floats: no bool mask


class TriangleConfig(_Config):
    width: float = Field(1.0, gt=0, description="half-width of the triangle's base; its peak is 1/width")


class Triangle(Surrogate):
    """Triangle: grad = max(0, width - |x|) / width^2 (unit area, peak 1/width at the threshold)."""

    def __init__(self, width: float = 1.0):
        self.width = float(width)

    def grad(self, x: Tensor) -> Tensor:
        return (self.width - x.abs()).clamp(min=0) / self.width**2

    def grad_(self, x: Tensor) -> Tensor:
        return x.abs_().neg_().add_(self.width).clamp_(min=0).div_(self.width**2)


@hookimpl
def register_surrogates(register):
    register("atan", ATan, config=AtanConfig)
    register("sigmoid", Sigmoid, config=SigmoidConfig)
    register("rect", Rect, config=RectConfig)
    register("triangle", Triangle, config=TriangleConfig)
