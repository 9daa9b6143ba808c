"""`rayenvs quickstart`: the main job runs end to end, resumes, and rejects bad flags before doing anything."""

import re

import pytest

from rayenvs.cli import main


def test_quickstart_end_to_end_then_resume(tmp_path, capsys):
    out = tmp_path / "qs"
    argv = ["quickstart", "--out", str(out), "--bandit-samples", "2000", "--ppo-timesteps", "1024", "--workers", "2"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert str(out / "report.md") in printed
    report = (out / "report.md").read_text()
    # 12 bandit configurations and 2 PPO variants, each a row of the report and an entry on the board.
    assert len(re.findall(r"^\| rayenvs/Bandit-K\dn\d-v0 \| [a-z-]+ \| 3 \|", report, flags=re.M)) == 12
    assert re.search(r"^\| baseline \| 3 \|", report, flags=re.M)
    assert re.search(r"^\| pfo-last \| 3 \|", report, flags=re.M)
    # the PPO part is the interference setting: each room's learning, per variant and seed
    assert "## PPO on rayenvs/MultiRoom-R4-Doors-v0" in report and "Each room's learning" in report
    assert len(re.findall(r"^\| (baseline|pfo-last) \| [012] \| [-\d,]+, [-\d,]+, [-\d,]+, [-\d,]+ \| ", report,
                          flags=re.M)) == 6
    assert "Submitted 14 new entries" in report
    assert (out / "plots" / "bandit_curves.png").stat().st_size > 10_000
    assert (out / "plots" / "ppo_multiroom_curves.png").stat().st_size > 10_000
    assert (out / "leaderboard" / "index.html").exists()
    runs = sorted(p.parent for p in (out / "runs").rglob("results.json"))
    assert len(runs) == 12 * 3 + 2 * 3
    mtimes = {p: (p / "results.json").stat().st_mtime_ns for p in runs}

    assert main(argv) == 0  # re-run: nothing is trained again, nothing is submitted twice
    assert {p: (p / "results.json").stat().st_mtime_ns for p in runs} == mtimes
    assert "Submitted 0 new entries" in (out / "report.md").read_text()
    rerun = (out / "report.md").read_text()
    # the re-run keeps the first run's entry ids and timing, and the report explains its columns
    first_ids = re.search(r"the entries of this quickstart are ids ([\d, ]+)\.", report).group(1)
    assert len(first_ids.split(", ")) == 14 and f"are ids {first_ids}." in rerun
    assert re.search(r"^- run 1: \d+ s, 14 new entries$", rerun, flags=re.M)
    assert re.search(r"^- run 2: \d+ s, 0 new entries$", rerun, flags=re.M)
    assert "J = sum_k J_k >= K - 0.1" in rerun and "hit the cap" in rerun and "sample standard deviation" in rerun
    assert re.search(r"\*\*PPO vs PFO\*\*: final return of pfo-last minus baseline = [-+]\d\.\d{3}, 95% interval", rerun)


@pytest.mark.parametrize(
    "flag, value, needle",
    [("--seeds", "2", "--seeds 2 must be >= 3"), ("--ppo-timesteps", "10", "--ppo-timesteps 10"),
     ("--workers", "0", "--workers 0")],
)
def test_bad_flags_fail_before_any_work(tmp_path, capsys, flag, value, needle):
    assert main(["quickstart", "--out", str(tmp_path / "qs"), flag, value]) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "qs").exists()
