"""Event streams to cached frames: the dataset contract, integration, splits, the cache.

* :mod:`snnctl.data.base`: :class:`EventDataset` and :class:`Recording`, the contract of dataset plugins.
* :mod:`snnctl.data.frames`: validation and vectorised frame integration (tonic's ``ToFrame`` rules).
* :mod:`snnctl.data.splits`: deterministic train/test splits.
* :mod:`snnctl.data.cache`: the content-addressed frame cache and its reader.
* :mod:`snnctl.data.preprocess`: the work behind ``snnctl preprocess``.
* :mod:`snnctl.data.archive`: safe extraction of downloaded archives.
"""

from snnctl.data.base import EventDataset, Recording, data_root, make_dataset

__all__ = ["EventDataset", "Recording", "data_root", "make_dataset"]
