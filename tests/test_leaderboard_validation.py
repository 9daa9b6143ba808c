"""Every rejection of ``rayenvs submit`` is specific and stores nothing."""

from __future__ import annotations

import math

import pytest
from test_leaderboard_synthetic import GOOD, make_runs

from leaderboard.bundle import build_bundle
from leaderboard.storage import DuplicateSubmission, Store
from leaderboard.validation import SubmissionRejected, validate_bundle
from rayenvs.cli import main


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "board.sqlite")
    yield s
    s.close()


def _bundle(tmp_path, levels=GOOD, **kwargs):
    return build_bundle(make_runs(tmp_path, levels, **kwargs), submitter="tester")


def _rehash(b):
    return b.with_hash()


def _edit_curve(b, seed_index, **changes):
    seeds = list(b.seeds)
    seeds[seed_index] = seeds[seed_index].model_copy(
        update={"eval": seeds[seed_index].eval.model_copy(update=changes)}
    )
    return b.model_copy(update={"seeds": seeds})


def test_valid_bundle_is_stored(tmp_path, store):
    b = _bundle(tmp_path)
    validate_bundle(b)
    sid = store.submit(b)
    e = store.entry(sid)
    assert (e.env_id, e.family, e.algo, e.variant, e.submitter) == (
        b.env_id,
        "bandit",
        "ppo",
        "baseline",
        "tester",
    )
    assert e.tier == "self-reported"  # no weights
    assert e.bundle.seeds[1].eval.returns == b.seeds[1].eval.returns


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.model_copy(update={"env_id": "rayenvs/Bandit-K2n2"}), "not a versioned id"),
        (lambda b: b.model_copy(update={"env_id": "rayenvs/Bandit-K3n3-v0"}), "unknown env id"),
        (lambda b: b.model_copy(update={"seeds": b.seeds[:2]}), "2 seed\\(s\\) submitted; at least 3"),
        (
            lambda b: b.model_copy(update={"seeds": [b.seeds[0], b.seeds[1], b.seeds[1]]}),
            "seeds must be distinct",
        ),
        (
            lambda b: _edit_curve(
                b,
                1,
                steps=b.seeds[1].eval.steps[:3],
                returns=b.seeds[1].eval.returns[:3],
                component_returns=b.seeds[1].eval.component_returns[:3],
            ),
            "curves of mismatched length: seed 1 has 3 eval points, seed 0 has 4",
        ),
        (
            lambda b: _edit_curve(
                b, 2, component_returns=[[[math.nan, 0.0]] + p[1:] for p in b.seeds[2].eval.component_returns]
            ),
            "seed 2, eval point 0, episode 0: NaN",
        ),
        (
            lambda b: _edit_curve(
                b,
                0,
                returns=[[2.0] + r[1:] for r in b.seeds[0].eval.returns],
                component_returns=[[[2.0, 0.0]] + p[1:] for p in b.seeds[0].eval.component_returns],
            ),
            "return 2.0 is outside the possible range \\[0.0, 1.0\\]",
        ),
        (
            lambda b: _edit_curve(b, 0, component_returns=[[[0.5, 0.0]] * 4 for _ in range(4)]),
            "component returns sum to 0.5",
        ),
    ],
)
def test_rejections_are_specific_and_store_nothing(tmp_path, store, mutate, message):
    bad = _rehash(mutate(_bundle(tmp_path)))
    with pytest.raises(SubmissionRejected, match=message):
        store.submit(bad)
    assert store.count() == 0


def test_hash_mismatch_is_rejected(tmp_path, store):
    b = _bundle(tmp_path)
    tampered = _edit_curve(
        b, 0, returns=[[1.0] * 4 for _ in range(4)], component_returns=[[[1.0, 0.0]] * 4 for _ in range(4)]
    )
    with pytest.raises(SubmissionRejected, match="content hash mismatch"):
        store.submit(tampered)
    assert store.count() == 0


def test_weights_must_match_their_digest(tmp_path, store):

    b = _bundle(tmp_path, weights="policy")
    seeds = [b.seeds[0].model_copy(update={"weights_sha256": "0" * 64}), *b.seeds[1:]]
    with pytest.raises(SubmissionRejected, match="seed 0: weights hash to"):
        store.submit(b.model_copy(update={"seeds": seeds}).with_hash())
    seeds = [b.seeds[0].model_copy(update={"weights_safetensors_b64": None}), *b.seeds[1:]]
    with pytest.raises(SubmissionRejected, match="weights_sha256 is set but no weights"):
        store.submit(b.model_copy(update={"seeds": seeds}).with_hash())
    assert store.count() == 0
    store.submit(b)
    assert store.entry(1).tier == "reproducible" and set(store.weights(1)) == {0, 1, 2}


def test_duplicate_is_rejected_even_under_another_name(tmp_path, store):
    b = _bundle(tmp_path)
    first = store.submit(b)
    with pytest.raises(DuplicateSubmission, match=f"already entry #{first}"):
        store.submit(b.model_copy(update={"submitter": "someone-else"}))
    assert store.count() == 1


def test_cli_submit_stores_and_rejects(tmp_path, capsys):
    board = tmp_path / "cli.sqlite"
    dirs = make_runs(tmp_path, GOOD)
    assert main(["submit", *map(str, dirs), "--board", str(board), "--submitter", "carol"]) == 0
    assert "stored entry #1" in capsys.readouterr().out
    assert main(["submit", *map(str, dirs), "--board", str(board)]) == 2
    assert "duplicate submission" in capsys.readouterr().err
    assert main(["submit", *map(str, dirs[:2]), "--board", str(board)]) == 2
    assert "at least 3 are required" in capsys.readouterr().err
    s = Store(board)
    assert s.count() == 1 and s.entry(1).submitter == "carol"


def test_cli_submit_default_board_is_in_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RAYENVS_DATA", str(tmp_path / "data"))
    assert main(["submit", *map(str, make_runs(tmp_path, GOOD))]) == 0
    assert Store(tmp_path / "data" / "leaderboard.sqlite").count() == 1
