"""Losses on per-step logits ``[T, B, K]``, and the optimizers and learning-rate schedule of a run."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from snnctl.config import LossSection, OptimSection, ScheduleSection

__all__ = ["run_loss", "make_optimizer", "lr_at"]


def run_loss(logits: Tensor, target: Tensor, cfg: LossSection) -> Tensor:
    """The training loss of a batch.

    * ``ce``: cross-entropy of the time-mean logits (optionally label-smoothed);
    * ``mse``: mean squared error between the time-mean logits and the one-hot target (the SMA-VGG
      recipes for DVS128 Gesture and CIFAR10-DVS);
    * ``tet``: TET (Deng et al., 2022), the mean over steps of the per-step cross-entropy, plus
      ``tet_lambda`` times the MSE between per-step logits and ``tet_phi`` (the N-Caltech101 recipe
      uses ``tet_lambda = 0``).
    """
    if logits.dim() == 2:  # a model that already averaged over time
        logits = logits.unsqueeze(0)
    logits = logits.float()
    if cfg.name == "ce":
        return F.cross_entropy(logits.mean(0), target, label_smoothing=cfg.label_smoothing)
    if cfg.name == "mse":
        one_hot = F.one_hot(target, logits.shape[-1]).to(logits.dtype)
        return F.mse_loss(logits.mean(0), one_hot)
    t, b, k = logits.shape
    per_step = F.cross_entropy(logits.reshape(t * b, k), target.repeat(t), label_smoothing=cfg.label_smoothing)
    if cfg.tet_lambda == 0:
        return per_step
    reg = F.mse_loss(logits, torch.full_like(logits, cfg.tet_phi))
    return (1 - cfg.tet_lambda) * per_step + cfg.tet_lambda * reg


def make_optimizer(params, cfg: OptimSection) -> torch.optim.Optimizer:
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               nesterov=cfg.nesterov)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    return torch.optim.NAdam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay,
                             momentum_decay=cfg.momentum_decay)


def lr_at(epoch: int, epochs: int, peak: float, cfg: ScheduleSection) -> float:
    """The learning rate of epoch ``epoch`` (0-based), stepped once per epoch.

    Warm-up rises linearly from ``warmup_start * peak`` to ``peak`` over ``warmup_epochs``; cosine
    then falls from ``peak`` to ``eta_min`` over the remaining epochs (``T_max`` = those epochs, as
    ``CosineAnnealingLR`` stepped per epoch).
    """
    w = cfg.warmup_epochs
    if epoch < w:
        return peak * (cfg.warmup_start + (1 - cfg.warmup_start) * epoch / w)
    if cfg.name == "constant":
        return peak
    span = max(1, epochs - w)
    return cfg.eta_min + (peak - cfg.eta_min) * (1 + math.cos(math.pi * (epoch - w) / span)) / 2
