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


def _multiroom_doors(r: int) -> EnvInfo:
    return EnvInfo(
        id=f"{NAMESPACE}/MultiRoom-R{r}-Doors-v0",
        entry_point="rayenvs.envs.multiroom_doors:MultiRoomDoorsEnv",
        vector_entry_point="rayenvs.envs.multiroom_doors:MultiRoomDoorsVectorEnv",
        kwargs={"num_rooms": r},
        description=(
            f"{r} rooms in a row; each start room's reward lies behind a doorway in its neighbour room, "
            "walls block the view"
        ),
        num_components=r,
        family="multiroom",
        min_return=0.0,
        max_return=1.0,
        random_return=MULTIROOM_DOORS_RANDOM_RETURN[r],
        optimal_return=1.0,
    )


# Mean return of a uniform-random policy on MultiRoom-R{r}-Doors-v0, first episodes of seeds 0-9999
# (rayenvs.envs.multiroom_doors.uniform_random_return; tests/test_multiroom_doors.py re-checks them).
MULTIROOM_DOORS_RANDOM_RETURN: dict[int, float] = {2: 0.0743, 4: 0.0719}

# Mean episode return of a uniform-random policy: the first episode of each of seeds 0-9999
# (rayenvs.envs.multiroom.uniform_random_return; tests/test_multiroom.py re-checks them).
MULTIROOM_RANDOM_RETURN: dict[tuple[int, bool], float] = {
    (2, False): 0.3399,
    (2, True): 0.6982,
    (4, False): 0.325,
    (4, True): 1.0534,
    (8, False): 0.3333,
    (8, True): 1.4737,
}

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
    for r in (2, 4):
        add(_multiroom_doors(r))
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


# Mean return of a uniform-random policy on Glimpse-v0 over 10,000 seeded episodes (measured by
# tests/test_glimpse.py; the exact expectation is 1 - (13/14)**20 = 0.7729).
GLIMPSE_RANDOM_RETURN = 0.7744


def register_atari_mujoco() -> None:
    """Catalog entries of the ALE and MuJoCo families (built from ``wrappers`` presets when made).

    Atari scores are game points (``info["raw_return"]``), not the clipped training return; the references
    are the published uniform-random and human scores (Mnih et al. 2015, as tabulated in DeepMind's DQN Zoo
    ``atari_data.py`` and rliable), so ``optimal_return`` holds the human score and the normalised score is
    the usual human-normalised score. They were measured with no-op starts, not sticky actions: comparable,
    not identical, settings. ``num_components`` is the default ``components="life"`` count: the starting
    lives ALE reports (DoubleDunk has none: 1); tests/test_atari.py checks it against ALE.
    """
    # game: (starting lives, random score, human score)
    atari = {
        "Phoenix": (5, 761.4, 7242.6),
        "NameThisGame": (3, 2292.3, 8049.0),
        "Gravitar": (6, 173.0, 3351.4),
        "BattleZone": (5, 2360.0, 37187.5),
        "DoubleDunk": (1, -18.6, -16.4),
        "Qbert": (4, 163.9, 13455.0),
    }
    for game, (lives, random_score, human_score) in atari.items():
        # Validation bounds of one episode's score: point counters only go up, except DoubleDunk's
        # score difference in a game played to 24 points (bounds with margin); 1e7 exceeds every
        # published agent score on these games.
        low, high = (-100.0, 100.0) if game == "DoubleDunk" else (0.0, 1e7)
        for masked in (False, True):
            add(
                EnvInfo(
                    id=f"{NAMESPACE}/Atari-{game}{'-Masked' if masked else ''}-v0",
                    entry_point="wrappers.atari:make_atari_env",
                    vector_entry_point="wrappers.atari_vector:make_atari_vector_env",
                    kwargs={"game": game, "mask_prob": 0.9 if masked else 0.0},
                    description=(
                        f"ALE {game}, settings of Moalla et al. 2024"
                        + (", rewards zeroed w.p. 0.9" if masked else "")
                        + "; components: reward per life"
                    ),
                    num_components=lives,
                    family="atari",
                    min_return=low,
                    max_return=high,
                    random_return=random_score,
                    optimal_return=human_score,
                )
            )
    # task: (reward terms, uniform-random return, reference return). Random returns: mean over 100 v5
    # episodes (seeds 0-99) of uniform-random actions, measured for this catalog. References: Gymnasium's
    # reward_threshold for the v5 ids; Humanoid has none, 6000 is our choice (the Ant threshold, roughly
    # what SAC-level agents reach). Bounds: loose validation limits, 1000 steps of |reward| < 100.
    mujoco = {
        "Hopper": (3, 17.04, 3800.0),
        "HalfCheetah": (2, -267.71, 4800.0),
        "Ant": (4, -47.46, 6000.0),
        "Humanoid": (4, 109.93, 6000.0),
    }
    for task, (terms, random_score, reference) in mujoco.items():
        add(
            EnvInfo(
                id=f"{NAMESPACE}/MuJoCo-{task}-v0",
                entry_point="wrappers.mujoco:make_mujoco_env",
                # the outer TimeLimit of gym.make governs, so max_episode_steps= changes the limit
                kwargs={"task": task, "time_limit": None},
                description=f"Gymnasium {task}-v5, frozen observation normalisation; components: reward terms",
                num_components=terms,
                family="mujoco",
                max_episode_steps=1000,
                min_return=-1e5,
                max_return=1e5,
                random_return=random_score,
                optimal_return=reference,
            )
        )


def env_info(env_id: str) -> EnvInfo:
    """The catalog entry of a registered id; a clear error names unknown or unversioned ids."""
    if env_id in CATALOG:
        return CATALOG[env_id]
    import difflib

    close = difflib.get_close_matches(str(env_id), list(CATALOG), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    known = ", ".join(sorted(CATALOG))
    raise ValueError(f"unknown env id {env_id!r}; {hint}registered rayenvs ids are: {known}")
