"""The rayenvs leaderboard: submissions a careful researcher can check, not just read.

Modules, in the order data flows through them:

- :mod:`leaderboard.schema`: the versioned, hashed submission bundle (raw per-seed data, config, weights).
- :mod:`leaderboard.weights`: weights in accepted formats, normalised to safetensors; nothing is unpickled.
- :mod:`leaderboard.bundle`: build a bundle from run directories (``rayenvs submit RUN_DIR...``).
- :mod:`leaderboard.validation`: every rejection rule, each with a specific message.
- :mod:`leaderboard.storage`: SQLAlchemy storage (SQLite default, PostgreSQL by URL), concurrency-safe.
- :mod:`leaderboard.scoring`: normalised scores, rliable aggregates with bootstrap CIs, suite columns;
  :mod:`leaderboard.curve_scores`: AUC and per-component scores by each component's own optimum.
- :mod:`leaderboard.stored_scores`: scores computed once per write and stored; pages read them.
- :mod:`leaderboard.verify`: re-evaluate submitted weights; sets the ``verified`` tier.
- :mod:`leaderboard.tokens`, :mod:`leaderboard.client`: HTTP submission tokens and the HTTP submit client.
- :mod:`leaderboard.render`, :mod:`leaderboard.web`, :mod:`leaderboard.static_site`: the same pages, live
  (FastAPI) or exported as files.
- :mod:`leaderboard.cli`: ``rayenvs submit`` and ``rayenvs leaderboard ...``.
- :mod:`leaderboard.submit_runs`: one submission per (env, algo, variant) of run directories; ``rayenvs sweep``.
- :mod:`leaderboard.quickstart`: ``rayenvs quickstart``, the whole instrument end to end.

The names below load on first use, so ``import leaderboard`` (and the console script) stays cheap.
"""

from rayenvs.exports import lazy_exports

_EXPORTS = {
    "Bundle": "leaderboard.schema",
    "build_bundle": "leaderboard.bundle",
    "Store": "leaderboard.storage",
    "score_board": "leaderboard.scoring",
    "verify_entry": "leaderboard.verify",
    "export_site": "leaderboard.static_site",
    "create_app": "leaderboard.web",
    "submit_groups": "leaderboard.submit_runs",
    "run_quickstart": "leaderboard.quickstart",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
