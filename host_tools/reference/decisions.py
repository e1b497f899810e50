"""The decision tracking of the reference model, in one place: every decision taken on a computed
quantity is recorded with its margin, so that a comparison can tell a decision flipped by
rounding from a real difference (host_tools.reference.compare)."""

from __future__ import annotations

import numpy as np

# scales of decisions (|value - threshold| / scale is a decision's margin; host_tools.reference.compare)
SCALE_H = 1e4  # [m]
SCALE_V = 100.0  # [m/s]


class Decisions:
    """The model's record of the decision nearest its threshold, per run (a part of ReferenceModel)."""

    def _near_begin(self) -> None:
        self._near_margin = np.full(self.n, np.inf)
        self._near_idx = np.full(self.n, -1, dtype=np.int64)
        self._near_value = np.zeros(self.n)
        self._near_threshold = np.zeros(self.n)

    def _decide(self, name: str, value, threshold, scale: float, where) -> None:
        """Record a decision `value <op> threshold` taken by the runs in `where`."""
        if not self.track:
            return
        if name not in self._near_names:
            self._near_names.append(name)
        idx = self._near_names.index(name)
        value = np.broadcast_to(np.asarray(value, dtype=np.float64), (self.n,))
        threshold = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (self.n,))
        with np.errstate(invalid="ignore"):
            margin = np.abs(value - threshold) / scale
        closer = np.asarray(where, dtype=bool) & (margin < self._near_margin)
        if closer.any():
            self._near_margin = np.where(closer, margin, self._near_margin)
            self._near_idx = np.where(closer, idx, self._near_idx)
            self._near_value = np.where(closer, value, self._near_value)
            self._near_threshold = np.where(closer, threshold, self._near_threshold)

    def near_names(self, idx: np.ndarray) -> list[str]:
        return [self._near_names[i] if i >= 0 else "" for i in idx]
