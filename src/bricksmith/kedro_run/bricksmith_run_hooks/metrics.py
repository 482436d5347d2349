"""A run's metrics, found without the project's help: numbers in its free outputs held in memory
and in every dataset whose name says metrics, each with where it came from.

Naming (the notebook's last cell names its exit value's metrics the same way): datasets are
taken in name order; a number is named after its dataset, a dict's numbers after their keys
(nested keys joined with dots), and a name already taken gets its dataset's name in front.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
from typing import Any

Number = int | float


def numbers_in(value: Any, name: str = "") -> dict[str, Number]:
    """The finite numbers in ``value``: a number, a one-dimensional pandas object, or a dict
    of them (nested), by name; {} for anything else."""
    if hasattr(value, "to_dict") and getattr(value, "ndim", None) == 1:
        value = value.to_dict()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = int(value) if isinstance(value, numbers.Integral) else float(value)
        return {name: number} if math.isfinite(number) else {}
    if isinstance(value, dict):
        found: dict[str, Number] = {}
        for key, item in value.items():
            found.update(numbers_in(item, f"{name}.{key}" if name else str(key)))
        return found
    return {}


def says_metrics(name: str) -> bool:
    return "metrics" in name.lower()


def dataset_kind(dataset: Any) -> str:
    """``json.JSONDataset`` for kedro-datasets classes, else the class name."""
    cls = type(dataset)
    parts = cls.__module__.split(".")
    if parts[0] == "kedro_datasets" and len(parts) > 1:
        return f"{parts[1]}.{cls.__name__}"
    return cls.__name__


class MetricsLog:
    """The numbers found in one pipeline run, by dataset, with their sources."""

    def __init__(self) -> None:
        self.found: dict[str, tuple[dict[str, Number], str]] = {}

    def saved(self, name: str, data: Any, kind: str) -> None:
        """A dataset was saved: keep its numbers when its name says metrics."""
        if says_metrics(name):
            found = numbers_in(data)
            if found:
                self.found[name] = (found, f"dataset '{name}' ({kind})")

    def free_outputs(self, outputs: dict[str, Any]) -> None:
        """The run's free outputs (name -> dataset): numbers held in memory, and those whose
        name says metrics (read back only when not already seen saved)."""
        for name, dataset in outputs.items():
            kind = dataset_kind(dataset)
            in_memory = kind == "MemoryDataset"
            if not in_memory and (not says_metrics(name) or name in self.found):
                continue
            try:
                data = dataset.load() if hasattr(dataset, "load") else dataset
            except Exception:  # an output that cannot be read has no metrics
                continue
            found = numbers_in(data)
            if found:
                source = f"free output '{name}'" if in_memory else f"dataset '{name}' ({kind})"
                self.found[name] = (found, source)

    def named(self) -> tuple[dict[str, Number], dict[str, str]]:
        """(metrics, source of each metric), named as the module docstring says."""
        metrics: dict[str, Number] = {}
        sources: dict[str, str] = {}
        for dataset in sorted(self.found):
            found, source = self.found[dataset]
            for key, number in found.items():
                label = key or dataset
                if label in metrics:
                    label = f"{dataset}.{key}" if key else dataset
                metrics[label] = number
                sources[label] = source
        return metrics, sources

    def write(self, path: str) -> None:
        """Write ``{"metrics": ..., "sources": ...}`` to ``path`` (whole or not at all)."""
        metrics, sources = self.named()
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".metrics-", suffix=".json", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"metrics": metrics, "sources": sources}, handle, indent=2)
        os.replace(tmp, path)
