"""One Adam state for the actor and critic optimizers of ``settings="paper"``, so plain SB3 can load the zip.

With separate optimizers, ``policy.optimizer`` covers only the actor's parameters and ``critic_optimizer`` the
critic's. ``stable_baselines3.PPO.load`` builds one optimizer over ``policy.parameters()`` and requires the
saved ``policy.optimizer`` to match it (and no unknown ``critic_optimizer`` entry), so a zip holding the two
states fails to load. Adam's state is per parameter (step, first and second moments), so the two states merge
exactly into one over ``policy.parameters()`` and split back without loss: :class:`~baselines.ppo.rayppo.RayPPO`
saves the merged state and splits it again when it loads.
"""

from __future__ import annotations

import copy
from typing import Any

import torch as th


def _owner_indices(opt: th.optim.Optimizer) -> dict[int, int]:
    """id(parameter) -> its index in ``opt.state_dict()`` (params numbered across groups, in order)."""
    flat = [p for group in opt.param_groups for p in group["params"]]
    return {id(p): i for i, p in enumerate(flat)}


def merge_optimizer_states(
    parameters: list[th.nn.Parameter], optimizers: list[th.optim.Optimizer]
) -> dict[str, Any]:
    """The state dict of one optimizer over ``parameters`` holding each parameter's state from its owner.

    Hyperparameters (lr, betas, eps, ...) come from the first optimizer's first group; the optimizers must
    share them (they are built from the same class and kwargs).
    """
    states = [opt.state_dict() for opt in optimizers]
    owners = [_owner_indices(opt) for opt in optimizers]
    merged_state: dict[int, Any] = {}
    for j, p in enumerate(parameters):
        for state, owner in zip(states, owners, strict=True):
            local = owner.get(id(p))
            if local is not None and local in state["state"]:
                merged_state[j] = copy.copy(state["state"][local])
    group = {k: v for k, v in states[0]["param_groups"][0].items() if k != "params"}
    return {"state": merged_state, "param_groups": [{**group, "params": list(range(len(parameters)))}]}


def split_optimizer_states(
    merged: dict[str, Any], parameters: list[th.nn.Parameter], optimizers: list[th.optim.Optimizer]
) -> list[dict[str, Any]]:
    """Inverse of :func:`merge_optimizer_states`: one state dict per optimizer, for ``load_state_dict``."""
    if len(merged["param_groups"]) != 1 or len(merged["param_groups"][0]["params"]) != len(parameters):
        raise ValueError(
            f"the saved optimizer state covers {sum(len(g['params']) for g in merged['param_groups'])} "
            f"parameters in {len(merged['param_groups'])} group(s); expected one group of {len(parameters)}"
        )
    index = {id(p): j for j, p in enumerate(parameters)}
    hyper = {k: v for k, v in merged["param_groups"][0].items() if k != "params"}
    out = []
    for opt in optimizers:
        flat = [p for group in opt.param_groups for p in group["params"]]
        state = {i: merged["state"][index[id(p)]] for i, p in enumerate(flat) if index[id(p)] in merged["state"]}
        groups, start = [], 0
        for group in opt.param_groups:
            groups.append({**hyper, "params": list(range(start, start + len(group["params"])))})
            start += len(group["params"])
        out.append({"state": state, "param_groups": groups})
    return out
