"""PPO and the interventions of Moalla et al. (2024): ``RayPPO`` (SB3's PPO with PFO, Adam resets, paper
settings), the PFO loss, shared-trunk and tanh-normal policies, and named variants (``baseline``, ``pfo-last``, ...).
"""

from rayenvs.exports import lazy_exports

_EXPORTS = {
    "RayPPO": "baselines.ppo.rayppo",
    "PPOSettings": "baselines.ppo.rayppo",
    "pfo_loss": "baselines.ppo.pfo",
    "PreactivationRecorder": "baselines.ppo.pfo",
    "TanhNormalPolicy": "baselines.ppo.policies",
    "SharedTrunkExtractor": "baselines.ppo.policies",
    "shared_trunk_kwargs": "baselines.ppo.policies",
    "build_model": "baselines.ppo.variants",
    "parse_variant": "baselines.ppo.variants",
    "canonical_variant": "baselines.ppo.variants",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
