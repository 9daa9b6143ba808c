"""The public API named in the README imports, every ``__all__`` name resolves, and ``import rayenvs`` stays
free of the upper layers (they load on first use)."""

import importlib
import subprocess
import sys

import pytest

PACKAGES = (
    "rayenvs", "wrappers", "baselines", "leaderboard", "baselines.ppo", "baselines.bandit", "baselines.training",
    "baselines.diagnostics", "baselines.experiments",
)


def test_readme_imports_work() -> None:
    from baselines import BanditConfig, RayPPO, TrainingConfig, run_training, train_bandit
    from leaderboard import Store, build_bundle
    from wrappers import ComponentAccounting, FrozenObsNormalization, RewardMask, make_atari_env

    assert RayPPO.__module__ == "baselines.ppo.rayppo" and train_bandit.__module__ == "baselines.bandit.learners"
    assert run_training.__module__ == "baselines.training.loop" and Store.__module__ == "leaderboard.storage"
    assert build_bundle.__module__ == "leaderboard.bundle"
    assert {BanditConfig.__name__, TrainingConfig.__name__} == {"BanditConfig", "TrainingConfig"}
    assert all(callable(x) for x in (ComponentAccounting, FrozenObsNormalization, RewardMask, make_atari_env))


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_resolves(name: str) -> None:
    package = importlib.import_module(name)
    assert package.__all__, name
    for attr in package.__all__:
        assert getattr(package, attr) is not None, f"{name}.{attr}"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        package.Nope  # noqa: B018


def test_import_rayenvs_and_the_packages_stays_light() -> None:
    code = (
        "import sys, rayenvs, baselines, leaderboard; "
        "print(sorted(m for m in ('torch', 'stable_baselines3', 'sqlalchemy', 'baselines.ppo') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
