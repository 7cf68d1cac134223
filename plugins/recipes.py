"""Training recipes: the paper's settings per dataset (spec §8.1), and the built-in default run.

A recipe is a partial run config. ``snnctl train --recipe NAME`` layers it over the defaults and
under ``--config``, ``--set`` and flags, so any of its settings can still be changed.
"""

from __future__ import annotations

from typing import Any

from snnctl import hookimpl


def _vgg(preset: str) -> dict[str, Any]:
    return {"name": "vgg8-sma", "args": {"preset": preset}}


def _azo(rcr: float, rtr: float) -> list[dict[str, Any]]:
    return [{"name": "azo", "args": {"rcr": rcr, "rtr": rtr}}]


RECIPES: dict[str, tuple[str, dict[str, Any]]] = {
    "dvsgesture-sma-azo": (
        "SMA-AZO-VGG on DVS128 Gesture: T=16, AdamW lr 1e-4 wd 1e-3, cosine over 200 epochs, MSE loss, "
        "batch 36 (9 x 4 GPUs), AZO RCR 10 RTR 4, seed 3401",
        {
            "model": _vgg("dvsgesture"), "regularizers": _azo(10, 4),
            "data": {"name": "dvsgesture"}, "timesteps": 16, "epochs": 200, "batch_size": 36,
            "optim": {"name": "adamw", "lr": 1e-4, "weight_decay": 1e-3},
            "schedule": {"name": "cosine"}, "loss": {"name": "mse"}, "precision": "auto", "seed": 3401,
        },
    ),
    "cifar10dvs-sma-azo": (
        "SMA-AZO-VGG on CIFAR10-DVS: T=10, Adam lr 1e-3, cosine over 200 epochs, MSE loss, batch 96 (24 x 4), "
        "random flip + translate <= 5 px, AZO RCR 4 RTR 4, seed 3404",
        {
            "model": _vgg("cifar10dvs"), "regularizers": _azo(4, 4),
            "data": {"name": "cifar10dvs", "flip": 0.5, "translate": 5}, "timesteps": 10, "epochs": 200,
            "batch_size": 96, "optim": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
            "schedule": {"name": "cosine"}, "loss": {"name": "mse"}, "precision": "auto", "seed": 3404,
        },
    ),
    "ncaltech101-sma-azo": (
        "SMA-AZO-VGG on N-Caltech101: T=14, NAdam lr 1e-3 (momentum_decay 1e-3), cosine over 300 epochs, "
        "TET loss, batch 24 (6 x 4), AZO RCR 24 RTR 4, seed 3402",
        {
            "model": _vgg("ncaltech101"), "regularizers": _azo(24, 4),
            "data": {"name": "ncaltech101"}, "timesteps": 14, "epochs": 300, "batch_size": 24,
            "optim": {"name": "nadam", "lr": 1e-3, "weight_decay": 0.0, "momentum_decay": 1e-3},
            "schedule": {"name": "cosine"}, "loss": {"name": "tet"}, "precision": "auto", "seed": 3402,
        },
    ),
}

# The reference converts the whole ImageNet model to SyncBatchNorm (spec section 4.4); sync_bn acts only
# when several processes train (torchrun).
_IMAGENET = {
    "data": {"name": "imagenet"}, "epochs": 125, "optim": {"name": "sgd", "lr": 0.1, "momentum": 0.9,
                                                           "weight_decay": 1e-4},
    "schedule": {"name": "cosine"}, "loss": {"name": "ce", "label_smoothing": 0.1}, "precision": "auto",
    "seed": 445, "regularizers": [], "sync_bn": True,
}
for depth, t, batch in ((18, 6, 384), (34, 6, 256)):
    RECIPES[f"imagenet-resnet{depth}-sma"] = (
        f"SMA-MS-ResNet-{depth} on ImageNet-1K: T={t}, SGD lr 0.1 momentum 0.9 wd 1e-4, cosine over 125 epochs, "
        f"label-smoothed CE (0.1), batch {batch}, RandomResizedCrop + AutoAugment, SyncBatchNorm across processes, "
        f"seed 445",
        {**_IMAGENET, "model": {"name": f"resnet{depth}-sma"}, "timesteps": t, "batch_size": batch},
    )
RECIPES["imagenet-resnet104-sma"] = (
    "SMA-MS-ResNet-104 on ImageNet-1K, stage 1: T=5, SGD lr 0.1 momentum 0.9 wd 1e-4, cosine over 125 epochs, "
    "label-smoothed CE (0.1), batch 224, SyncBatchNorm across processes, seed 445",
    {**_IMAGENET, "model": {"name": "resnet104-sma"}, "timesteps": 5, "batch_size": 224},
)
RECIPES["imagenet-resnet104-sma-azo"] = (
    "SMA-AZO-MS-ResNet-104 on ImageNet-1K, stage 2: fine-tunes the weights of an imagenet-resnet104-sma run "
    "(required: --init RUN) for 50 epochs with AZO after every SMA at RTR 4, RCR 4 (the paper gives no ratios "
    "for ImageNet; these are AZO's defaults), SGD lr 1e-3 wd 1e-5, batch 224, T=5, SyncBatchNorm across processes",
    {**_IMAGENET, "model": {"name": "resnet104-sma"}, "timesteps": 5, "batch_size": 224, "epochs": 50,
     "optim": {"name": "sgd", "lr": 1e-3, "momentum": 0.9, "weight_decay": 1e-5},
     "regularizers": _azo(4, 4),
     "requires": {"init": "it fine-tunes the stage-1 weights: give a finished imagenet-resnet104-sma run with "
                          "--init RUN_DIR (its best checkpoint), or its model.safetensors"}},
)
RECIPES["synthetic-gestures-sma-azo"] = (
    "the default run: vgg5-sma + AZO on the built-in synthetic-gestures data, T=8, AdamW lr 1e-3, "
    "cosine over 12 epochs, CE loss, batch 32, seed 0 (minutes on a laptop CPU)",
    {"model": {"name": "vgg5-sma"}, "regularizers": [{"name": "azo"}], "data": {"name": "synthetic-gestures"},
     "epochs": 12, "batch_size": 32, "optim": {"name": "adamw", "lr": 1e-3}, "schedule": {"name": "cosine"},
     "loss": {"name": "ce"}, "seed": 0},
)


RECIPES["learning-check"] = (
    "does a component learn? vgg5 without attention on small synthetic gestures (16 x 16, 64 training and 16 test "
    "recordings per class), T=8, AdamW lr 3e-3, 12 epochs, batch 16, no regularizer: about 15 s on 2 CPU cores; "
    "working neurons reach 100 % (chance 12.5 %); snnctl.testing.check_learning runs it",
    {"model": {"name": "vgg5"}, "regularizers": [],
     "data": {"name": "synthetic-gestures", "args": {"train_per_class": 64, "test_per_class": 16, "size": 16}},
     "timesteps": 8, "epochs": 12, "batch_size": 16, "optim": {"name": "adamw", "lr": 3e-3},
     "schedule": {"name": "cosine"}, "loss": {"name": "ce"}, "seed": 0},
)


def _factory(settings: dict[str, Any]):
    import copy

    return lambda: copy.deepcopy(settings)


@hookimpl
def register_recipes(register):
    for name, (description, settings) in RECIPES.items():
        register(name, _factory(settings), description=description)
