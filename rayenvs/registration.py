"""The catalog of registered ``rayenvs/...`` ids and their registration with Gymnasium.

Ids are public API: never change the behaviour of a published ``-vN``, register a new version instead.
Entry points are given as strings so that importing :mod:`rayenvs` stays cheap and registering an id never
imports optional dependencies (ale-py, mujoco); they are resolved only when the id is made.

Each :class:`EnvInfo` also carries the reference numbers the leaderboard normalises scores with
(``random_return``: mean episode return of a uniform-random policy; ``optimal_return``: the best achievable
mean episode return) and the bounds any single episode return must lie in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

NAMESPACE = "rayenvs"


@dataclass(frozen=True)
class EnvInfo:
    """One registered id: what it is, how to build it, and its score references."""

    id: str
    entry_point: str
    description: str
    num_components: int
    family: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    vector_entry_point: str | None = None
    max_episode_steps: int | None = None
    min_return: float = 0.0
    max_return: float = 1.0
    random_return: float = 0.0
    optimal_return: float = 1.0


def _bandit(k: int, n: int) -> EnvInfo:
    return EnvInfo(
        id=f"{NAMESPACE}/Bandit-K{k}n{n}-v0",
        entry_point="rayenvs.envs.bandit:ContextualBanditEnv",
        vector_entry_point="rayenvs.envs.bandit:ContextualBanditVectorEnv",
        kwargs={"num_contexts": k, "num_arms": n},
        description=f"{k}-context, {n}-arm contextual bandit (Schaul et al. 2019), one-step episodes",
        num_components=k,
        family="bandit",
        min_return=0.0,
        max_return=1.0,
        random_return=1.0 / n,
        optimal_return=1.0,
    )


def _multiroom(r: int, seq: bool) -> EnvInfo:
    # Random-policy references are measured by tests/test_multiroom.py::test_random_reference (10,000 episodes).
    suffix = "-Seq" if seq else ""
    return EnvInfo(
        id=f"{NAMESPACE}/MultiRoom-R{r}{suffix}-v0",
        entry_point="rayenvs.envs.multiroom:MultiRoomEnv",
        vector_entry_point="rayenvs.envs.multiroom:MultiRoomVectorEnv",
        kwargs={"num_rooms": r, "start": "first" if seq else "random"},
        description=(
            f"{r} rooms in a row, one reward per room; "
            + ("collect all rewards in one episode" if seq else "start in a random room, collect its reward")
        ),
        num_components=r,
        family="multiroom",
        min_return=0.0,
        max_return=float(r) if seq else 1.0,
        random_return=MULTIROOM_RANDOM_RETURN.get((r, seq), 0.0),
        optimal_return=float(r) if seq else 1.0,
    )


# Mean episode return of a uniform-random policy over 10,000 seeded episodes (see the multi-room tests).
MULTIROOM_RANDOM_RETURN: dict[tuple[int, bool], float] = {}

CATALOG: dict[str, EnvInfo] = {}


def add(info: EnvInfo) -> None:
    """Add an id to the catalog and register it with Gymnasium (idempotent for the same info)."""
    if info.id in CATALOG and CATALOG[info.id] != info:
        raise ValueError(f"env id {info.id!r} is already registered with different settings")
    CATALOG[info.id] = info
    if info.id not in gym.registry:
        gym.register(
            id=info.id,
            entry_point=info.entry_point,
            vector_entry_point=info.vector_entry_point,
            kwargs=dict(info.kwargs),
            max_episode_steps=info.max_episode_steps,
            disable_env_checker=False,
        )


def register_all() -> None:
    """Register every id of the suite; called once by ``import rayenvs``."""
    add(
        EnvInfo(
            id=f"{NAMESPACE}/ContextualBandit-v0",
            entry_point="rayenvs.envs.bandit:ContextualBanditEnv",
            vector_entry_point="rayenvs.envs.bandit:ContextualBanditVectorEnv",
            kwargs={},
            description="K x n contextual bandit with configurable num_contexts, num_arms, context_probs",
            num_components=2,
            family="bandit",
            random_return=0.5,
        )
    )
    for k, n in [(2, 2), (4, 4), (8, 8), (2, 8), (8, 16)]:
        add(_bandit(k, n))

    add(
        EnvInfo(
            id=f"{NAMESPACE}/MultiRoom-v0",
            entry_point="rayenvs.envs.multiroom:MultiRoomEnv",
            vector_entry_point="rayenvs.envs.multiroom:MultiRoomVectorEnv",
            kwargs={},
            description="R rooms joined by doorways, one reward per room; configurable num_rooms, room_size, start",
            num_components=2,
            family="multiroom",
            random_return=MULTIROOM_RANDOM_RETURN.get((2, False), 0.0),
        )
    )
    for r in (2, 4, 8):
        for seq in (False, True):
            add(_multiroom(r, seq))
    add(
        EnvInfo(
            id=f"{NAMESPACE}/Glimpse-v0",
            entry_point="rayenvs.envs.glimpse:GlimpseEnv",
            kwargs={},
            description="masked-image classification through a moving 8x8 glimpse (Bengio et al. 2020)",
            num_components=10,
            family="glimpse",
            max_return=1.0,
            random_return=GLIMPSE_RANDOM_RETURN,
            optimal_return=1.0,
        )
    )
    register_atari_mujoco()


# Mean return of a uniform-random policy on Glimpse-v0 (measured by tests/test_glimpse.py).
GLIMPSE_RANDOM_RETURN = 0.0


def register_atari_mujoco() -> None:
    """Catalog entries of the ALE and MuJoCo families (built from ``wrappers`` presets when made)."""


def env_info(env_id: str) -> EnvInfo:
    """The catalog entry of a registered id; a clear error names unknown or unversioned ids."""
    if env_id in CATALOG:
        return CATALOG[env_id]
    known = ", ".join(sorted(CATALOG))
    raise ValueError(f"unknown env id {env_id!r}; registered rayenvs ids are: {known}")
