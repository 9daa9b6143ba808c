"""The bandit learners' log: equally shaped rows (J, interference) written once into a growable array.
"""

from __future__ import annotations

import numpy as np
import torch

SYNC_EVERY = 64  # updates between host syncs (drop finished seeds, move logged rows off the device)
_STAGE_BYTES = 1 << 28  # device-side staging of logged rows before they move to the host
_LOG_PREALLOC_BYTES = 1 << 28  # first allocation of a log (untouched pages cost no memory)
_SYNC_EVERY = SYNC_EVERY


class _RowLog:
    """Growable numpy log of equally shaped rows, written in place.

    Why: at K = n = 8 with thousands of seeds the log is most of the memory traffic; cloning every row,
    stacking them every sync and stacking everything again at the end wrote it three times, each time into
    fresh (page-faulting) memory. Here every row is written once into a preallocated array (directly on
    CPU; through a device buffer moved to the host every ``_SYNC_EVERY`` rows elsewhere, so CUDA never
    syncs per update). The first allocation is capped at ``_LOG_PREALLOC_BYTES`` and doubles when full.
    """

    def __init__(self, first: torch.Tensor, max_rows: int, staged: bool | None = None) -> None:
        """``staged`` (default: whether ``first`` is off the CPU) buffers rows on the device between copies."""
        self.shape = tuple(first.shape)
        row_bytes = max(1, first.numel() * first.element_size())
        cap = max(1, min(max_rows, _LOG_PREALLOC_BYTES // row_bytes))
        self.np_dtype = torch.empty(0, dtype=first.dtype).numpy().dtype
        self._alloc(cap)
        self.n = 0
        self.stage = None
        if first.device.type != "cpu" if staged is None else staged:  # <= _STAGE_BYTES (rho rows: S x K x K)
            stage_rows = max(1, min(_SYNC_EVERY, _STAGE_BYTES // row_bytes))
            self.stage = torch.empty((stage_rows, *self.shape), dtype=first.dtype, device=first.device)
        self.staged = 0
        self.append(first)

    def _alloc(self, cap: int) -> None:
        self.buf = np.empty((cap, *self.shape), dtype=self.np_dtype)
        self.tbuf = torch.from_numpy(self.buf)

    def _reserve(self, rows: int) -> None:
        if rows > len(self.buf):
            old = self.buf
            self._alloc(max(rows, 2 * len(old)))
            self.buf[: self.n] = old[: self.n]

    def append(self, row: torch.Tensor) -> None:
        if self.stage is None:
            self._reserve(self.n + 1)
            self.tbuf[self.n].copy_(row)
            self.n += 1
            return
        self.stage[self.staged].copy_(row)
        self.staged += 1
        if self.staged == len(self.stage):
            self.flush()

    def flush(self) -> None:
        if self.staged:
            self._reserve(self.n + self.staged)
            self.buf[self.n : self.n + self.staged] = self.stage[: self.staged].cpu().numpy()
            self.n += self.staged
            self.staged = 0

    def truncate(self, rows: int) -> None:
        self.flush()
        self.n = min(self.n, rows)

    def rows(self) -> np.ndarray:
        self.flush()
        return self.buf[: self.n]
