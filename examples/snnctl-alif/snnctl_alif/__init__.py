"""snnctl plugin: adaptive-threshold LIF neuron (``alif``) and fast-sigmoid surrogate (``fast-sigmoid``)."""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

import snnctl
from snnctl.nn import Neuron, Surrogate


class FastSigmoid(Surrogate):
    """Fast sigmoid (SuperSpike): grad = 1 / (1 + slope * |x|)^2."""

    def __init__(self, slope: float = 10.0):
        self.slope = float(slope)

    def grad(self, x: Tensor) -> Tensor:
        return 1.0 / (1.0 + self.slope * x.abs()) ** 2

    def grad_(self, x: Tensor) -> Tensor:
        return x.abs_().mul_(self.slope).add_(1.0).square_().reciprocal_()


class FastSigmoidConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slope: float = Field(10.0, gt=0, description="steepness; the gradient at the threshold is 1")


class ALIF(Neuron):
    """Adaptive LIF: the threshold rises by beta after each spike and decays with tau_adapt.

    Per step, with a the adaptation trace (0 after reset)::

        H = V + (X - V) / tau
        S = Heaviside(H - (v_threshold + beta * a))
        V = H * (1 - S)                      (hard reset to 0; the reset carries no gradient)
        a = exp(-1 / tau_adapt) * a + S
    """

    def __init__(
        self,
        tau: float = 2.0,
        tau_adapt: float = 20.0,
        beta: float = 0.2,
        v_threshold: float = 1.0,
        surrogate: str | Surrogate = "fast-sigmoid",
        surrogate_args: Optional[dict] = None,
        step_mode: str = "m",
    ):
        super().__init__(surrogate, surrogate_args, step_mode)
        self.tau, self.tau_adapt, self.beta, self.v_threshold = tau, tau_adapt, beta, v_threshold
        self.rho = math.exp(-1.0 / tau_adapt)
        self.a: Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.a = None

    def single_step(self, x: Tensor) -> Tensor:
        v = self.v if self.v is not None else torch.zeros_like(x)
        a = self.a if self.a is not None else torch.zeros_like(x)
        h = v + (x - v) / self.tau
        s = self.surrogate(h - (self.v_threshold + self.beta * a))
        self.v = h * (1.0 - s.detach())
        self.a = self.rho * a + s
        return s

    # multi_step: the base class loops single_step over time, which is all a research neuron needs.

    def extra_repr(self) -> str:
        return (f"tau={self.tau}, tau_adapt={self.tau_adapt}, beta={self.beta}, "
                f"v_threshold={self.v_threshold}, {super().extra_repr()}")


class ALIFConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tau: float = Field(2.0, gt=1.0, description="membrane time constant")
    tau_adapt: float = Field(20.0, gt=0, description="time constant of the threshold adaptation")
    beta: float = Field(0.2, ge=0, description="threshold increase per spike")
    v_threshold: float = Field(1.0, description="baseline firing threshold")
    surrogate: str = Field("fast-sigmoid", description="surrogate gradient, by registry name")
    surrogate_args: dict[str, Any] = Field(default_factory=dict, description="arguments of the surrogate")
    step_mode: str = Field("m", pattern="^[ms]$", description="'m': input [T, B, ...]; 's': one step")


@snnctl.hookimpl
def register_neurons(register):
    register("alif", ALIF, config=ALIFConfig)


@snnctl.hookimpl
def register_surrogates(register):
    register("fast-sigmoid", FastSigmoid, config=FastSigmoidConfig)
