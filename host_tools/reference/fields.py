"""The status record of an aid source in the reference model: named arrays of shape (n,), one
element per run, set under a mask (host_tools.reference.model, host_tools.reference.velocimeter)."""

from __future__ import annotations

import numpy as np


class FieldArrays:
    """Fields named in FLOATS (the model's float type), INTS and BOOLS, each starting at its
    RESET value (0 or False when not named there)."""

    FLOATS: tuple[str, ...] = ()
    INTS: tuple[str, ...] = ()
    BOOLS: tuple[str, ...] = ()
    RESET: dict[str, float] = {}

    def _alloc(self, n: int, dtype) -> None:
        for a in self.FLOATS:
            setattr(self, a, np.full(n, self.RESET.get(a, 0.0), dtype=dtype))
        for a in self.INTS:
            setattr(self, a, np.full(n, self.RESET.get(a, 0), dtype=np.int64))
        for a in self.BOOLS:
            setattr(self, a, np.zeros(n, dtype=bool))

    def _put(self, m, **values) -> None:
        """Set fields of the runs in mask m."""
        for a, v in values.items():
            cur = getattr(self, a)
            setattr(self, a, np.where(m, v, cur).astype(cur.dtype, copy=False))

    def _set(self, m, health, reason) -> None:
        self._put(m, health=health, reason=reason)
