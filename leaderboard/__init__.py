"""The rayenvs leaderboard: submissions a careful researcher can check, not just read.

Modules, in the order data flows through them:

- :mod:`leaderboard.schema`: the versioned, hashed submission bundle (raw per-seed data, config, weights).
- :mod:`leaderboard.weights`: weights in accepted formats, normalised to safetensors; nothing is unpickled.
- :mod:`leaderboard.bundle`: build a bundle from run directories (``rayenvs submit RUN_DIR...``).
- :mod:`leaderboard.validation`: every rejection rule, each with a specific message.
- :mod:`leaderboard.storage`: SQLAlchemy storage (SQLite default, PostgreSQL by URL), concurrency-safe.
- :mod:`leaderboard.scoring`: normalised scores, rliable aggregates with bootstrap CIs, suite columns.
- :mod:`leaderboard.verify`: re-evaluate submitted weights; sets the ``verified`` tier.
- :mod:`leaderboard.tokens`, :mod:`leaderboard.client`: HTTP submission tokens and the HTTP submit client.
- :mod:`leaderboard.render`, :mod:`leaderboard.web`, :mod:`leaderboard.static_site`: the same pages, live
  (FastAPI) or exported as files.
- :mod:`leaderboard.cli`: ``rayenvs submit`` and ``rayenvs leaderboard ...``.
"""
