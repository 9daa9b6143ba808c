"""Wrappers that adapt any Gymnasium env to the suite: reward masking, component accounting, frozen
observation normalisation, the Atari/MuJoCo presets of Moalla et al. (2024), and permuted actions or
observations on a phase clock (a changing target for plasticity studies).

Importing this package never imports ale-py or mujoco; the presets import them when an env is built.
"""

from wrappers.atari import (
    GAMES,
    REWARD_CLASS_EDGES,
    LifeComponents,
    RawComponentReturns,
    RecordRawReward,
    RewardValueComponents,
    make_atari_env,
    reward_class_names,
)
from wrappers.atari_vector import make_atari_vector_env
from wrappers.component_accounting import ComponentAccounting
from wrappers.mujoco import REWARD_TERMS, TASKS, UnitActionScaling, make_mujoco_env
from wrappers.obs_normalization import FrozenObsNormalization, ObsStats, random_rollout_stats
from wrappers.permuted import PermutedActions, PermutedObservations, phase_permutation
from wrappers.reward_mask import RewardMask

__all__ = [
    "GAMES",
    "REWARD_CLASS_EDGES",
    "REWARD_TERMS",
    "TASKS",
    "ComponentAccounting",
    "FrozenObsNormalization",
    "LifeComponents",
    "ObsStats",
    "PermutedActions",
    "PermutedObservations",
    "RawComponentReturns",
    "RecordRawReward",
    "RewardMask",
    "RewardValueComponents",
    "UnitActionScaling",
    "make_atari_env",
    "make_atari_vector_env",
    "make_mujoco_env",
    "phase_permutation",
    "random_rollout_stats",
    "reward_class_names",
]
