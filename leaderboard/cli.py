"""``rayenvs submit`` and ``rayenvs leaderboard {list,export,verify,serve,token,hide,unhide,delete,pin-baseline}``.

Only argparse is imported at registration time; SQLAlchemy, FastAPI, torch and matplotlib load inside the
handlers, so ``rayenvs list`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

# C0/C1 control characters (ESC, BEL, CR, ...): stripped from anything a submitter wrote before it is printed,
# so a name cannot move the cursor, recolour the terminal or fake lines of output.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_text(value: object) -> str:
    """``value`` as text with terminal control characters removed."""
    return _CONTROL.sub("", str(value))


BOARD_HELP = (
    "SQLite file or SQLAlchemy URL (postgresql://...); default: the data directory's leaderboard.sqlite"
)
SUBMIT_BOARD_HELP = BOARD_HELP + ", or the http(s):// address of a served board"


def _cmd_submit(args: argparse.Namespace) -> int:
    from leaderboard.bundle import build_bundle
    from leaderboard.client import is_http_board, submit_http
    from leaderboard.storage import Store

    bundle = build_bundle(args.run_dirs, submitter=args.submitter)
    if is_http_board(args.board):
        sid = submit_http(bundle, args.board, args.token)
    else:
        store = Store(args.board)
        try:
            sid = store.submit(bundle)
        finally:
            store.close()
    print(f"stored entry #{sid} ({bundle.env_id}, {bundle.algo}/{bundle.variant}, {len(bundle.seeds)} seeds)")
    print(f"content hash {bundle.content_hash}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from leaderboard.scoring import score_board
    from leaderboard.storage import Store
    from leaderboard.tokens import token_ids

    store = Store(args.board)
    token_id = None
    if args.token_name is not None:
        ids = token_ids(store, args.token_name)
        if not ids:
            raise ValueError(f"no token named {args.token_name!r} (see `rayenvs leaderboard token list`)")
        entries = [e for t in ids for e in store.entries(family=args.family, include_hidden=True, token_id=t)]
    else:
        entries = store.entries(family=args.family, include_hidden=args.hidden, token_id=token_id)
    scores = score_board(entries, store.pinned_baselines())
    table = Table(title=f"leaderboard ({store.url})")
    for col in ("id", "env", "algo/variant", "submitter", "tier", "seeds", "budget", "IQM [95% CI]", "AUC"):
        table.add_column(col)
    for e in entries:
        s = scores[e.id]
        table.add_row(
            str(e.id),
            safe_text(e.env_id),
            safe_text(f"{e.algo}/{e.variant}"),
            safe_text(e.submitter),
            e.tier + (" (hidden)" if e.hidden else ""),
            str(s.num_seeds),
            f"{s.budget:,d}",
            f"{s.iqm:.3f} [{s.iqm_ci[0]:.3f}, {s.iqm_ci[1]:.3f}]",
            f"{s.auc:.3f}",
        )
    Console(width=160, markup=False, highlight=False).print(table)
    for q in store.quarantined():
        print(f"quarantined: {safe_text(q.reason)}")
    return 0


def _cmd_moderate(args: argparse.Namespace) -> int:
    from leaderboard.storage import Store

    store = Store(args.board)
    if args.leaderboard_command == "hide":
        store.set_hidden(args.id, True)
        print(f"entry #{args.id} is hidden")
    elif args.leaderboard_command == "unhide":
        store.set_hidden(args.id, False)
        print(f"entry #{args.id} is shown again")
    elif args.leaderboard_command == "delete":
        store.delete(args.id)
        print(f"entry #{args.id} deleted")
    else:
        env_id = store.pin_baseline(args.id)
        print(f"entry #{args.id} is the PPO baseline of {env_id}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from leaderboard.static_site import export_site
    from leaderboard.storage import Store

    if Path(args.html).exists() and not Path(args.html).is_dir():
        raise ValueError(f"--html {args.html!r} is a file; give a folder (new, or a previous export)")
    files = export_site(Store(args.board), args.html)
    print(f"wrote {len(files)} files under {args.html}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from leaderboard.storage import Store
    from leaderboard.verify import verify_entry

    report = verify_entry(Store(args.board), args.id, episodes=args.episodes, device=args.device)
    print(json.dumps(report.as_dict(), indent=2))
    verdict = "VERIFIED" if report.passed else f"FAILED verification: {report.reason}"
    print(f"entry #{args.id}: {verdict}")
    return 0 if report.passed else 1


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from leaderboard.web import create_app

    if not 0 < args.port < 65536:
        raise ValueError(f"--port {args.port} must be in 1..65535")
    if args.max_upload_mb <= 0:
        raise ValueError(f"--max-upload-mb {args.max_upload_mb} must be > 0")
    app = create_app(
        args.board,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        submissions_per_minute=args.submissions_per_minute,
        api_docs=args.api_docs,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def _cmd_token(args: argparse.Namespace) -> int:
    from leaderboard.storage import Store
    from leaderboard.tokens import create_token, list_tokens, revoke_token

    store = Store(args.board)
    if args.token_command == "create":
        print(create_token(store, args.name))
    elif args.token_command == "revoke":
        print(f"revoked {revoke_token(store, args.name)} token(s) named {args.name!r}")
    else:
        for t in list_tokens(store):
            status = "revoked" if t["revoked"] else "active"
            print(f"{t['id']}\t{safe_text(t['name'])}\t{t['created_at']}\t{status}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``submit`` and ``leaderboard`` to the ``rayenvs`` command line."""
    p = subparsers.add_parser(
        "submit", help="validate run directories (seeds of one configuration) and store them"
    )
    p.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="run directories of one configuration, one per seed (>= 3)"
    )
    p.add_argument("--board", default=None, help=SUBMIT_BOARD_HELP)
    p.add_argument("--submitter", default="anonymous", help="name shown on the board (default: anonymous)")
    p.add_argument(
        "--token", default=None, help="for an http(s):// board (default: $RAYENVS_LEADERBOARD_TOKEN)"
    )
    p.set_defaults(func=_cmd_submit)

    lb = subparsers.add_parser("leaderboard", help="list, export, verify and serve the leaderboard")
    sub = lb.add_subparsers(dest="leaderboard_command", required=True, metavar="ACTION")

    p = sub.add_parser("list", help="print the entries with their IQM and CI")
    p.add_argument("--board", default=None, help=BOARD_HELP)
    p.add_argument(
        "--family", default=None, help="only this family (bandit, multiroom, atari, mujoco, glimpse)"
    )
    p.add_argument("--hidden", action="store_true", help="include hidden entries")
    p.add_argument(
        "--token",
        dest="token_name",
        default=None,
        metavar="NAME",
        help="only the entries submitted with the token(s) named NAME (revoked ones too; hidden included)",
    )
    p.set_defaults(func=_cmd_list)

    for action, text in (
        ("hide", "hide an entry from every page and score (moderation; the data is kept)"),
        ("unhide", "show a hidden entry again"),
        ("delete", "delete an entry with its weights and verifications"),
        ("pin-baseline", "make a verified entry its env's PPO baseline (what P(> PPO) is measured against)"),
    ):
        p = sub.add_parser(action, help=text)
        p.add_argument("id", type=int, help="entry id (see `rayenvs leaderboard list`)")
        p.add_argument("--board", default=None, help=BOARD_HELP)
        p.set_defaults(func=_cmd_moderate)

    p = sub.add_parser("export", help="write the board as a static HTML site")
    p.add_argument("--board", default=None, help=BOARD_HELP)
    p.add_argument(
        "--html", required=True, metavar="DIR", help="folder to write the site into (new, or a previous export)"
    )
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("verify", help="re-evaluate an entry's weights on fixed seeds and set its tier")
    p.add_argument("id", type=int, help="entry id (see `rayenvs leaderboard list`)")
    p.add_argument("--board", default=None, help=BOARD_HELP)
    p.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="episodes per seed of a stochastic protocol (default 2000, on the verifier's own seeds); "
        "a deterministic protocol always replays the claimed final-point episodes exactly",
    )
    p.add_argument("--device", default="cpu", help="torch device for the re-evaluation (default: cpu)")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("serve", help="serve the board over HTTP (FastAPI + uvicorn)")
    p.add_argument("--board", default=None, help=BOARD_HELP)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    p.add_argument(
        "--max-upload-mb", type=float, default=64.0, help="largest accepted submission in MB (default: 64)"
    )
    p.add_argument("--submissions-per-minute", type=int, default=30, help="per-token submission rate limit")
    p.add_argument("--api-docs", action="store_true", help="serve the OpenAPI docs at /docs (off by default)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("token", help="manage HTTP submission tokens")
    p.add_argument(
        "token_command", choices=("create", "list", "revoke"), help="create a token, list them, or revoke one"
    )
    p.add_argument("--name", default="default", help="label of the token (create, revoke)")
    p.add_argument("--board", default=None, help=BOARD_HELP)
    p.set_defaults(func=_cmd_token)
