"""Env throughput, in one run: native vector envs vs their peers.

(a) the bandit native vector env vs the same env under ``gymnasium.vector.SyncVectorEnv``;
(b) the multi-room native vector env vs Minigrid's ``MiniGrid-MultiRoom-N6-v0`` (benchmark-only dependency).
Targets: >= 50x for both. Run: ``python benchmarks/envs.py``; results go in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_bandit_env import bench_bandit  # noqa: E402
from bench_multiroom_env import bench_multiroom  # noqa: E402


def main() -> None:
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, python {sys.version.split()[0]}")
    rows = [("bandit: native vector vs SyncVectorEnv", bench_bandit()),
            ("multiroom: native vector vs MiniGrid-MultiRoom-N6-v0", bench_multiroom())]
    for name, res in rows:
        print(f"{name}: " + ", ".join(f"{k}={v:,.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in res.items()))


if __name__ == "__main__":
    main()
