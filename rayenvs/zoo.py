"""Run rl-zoo3's scripts on the rayenvs ids: ``python -m rayenvs.zoo record_video --algo ppo --env rayenvs/ID -f logs``.

Why a shim: rl-zoo3's ``train`` and ``enjoy`` accept ``--gym-packages rayenvs``, but ``rl_zoo3.record_video`` has no
such option, and Gymnasium's ``rayenvs:`` id prefix fails there too: the script looks the id up in Gymnasium's
registry (``ExperimentManager.is_atari``) before anything could import the package that registers it. This module
imports the packages (``rayenvs``, those named by ``--gym-packages`` and an ``--env MODULE:ID`` prefix), removes what
the script would reject or look up raw, and runs ``rl_zoo3.SCRIPT`` exactly as ``python -m rl_zoo3.SCRIPT`` would.
Log folders are unchanged: rl-zoo3 names them after the id without its prefix, so a model trained with
``rl_zoo3.train --env rayenvs/ID --gym-packages rayenvs`` is found. Every id renders ``rgb_array`` frames, which is
what ``record_video`` asks for; on a machine without a display MuJoCo's default GLFW backend cannot open a context,
so the shim selects headless EGL there unless ``MUJOCO_GL`` is set. rl-zoo3 is an optional dependency (the ``dev``
extra); it is imported only here.
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys
from collections.abc import Sequence

#: rl-zoo3 scripts this shim runs (``record_training`` re-launches ``python -m rl_zoo3.record_video`` in a
#: subprocess, which the shim cannot reach).
SCRIPTS = ("train", "enjoy", "record_video")
#: scripts whose parser has no ``--gym-packages`` option (the shim imports the packages and drops the option).
_NO_GYM_PACKAGES = ("record_video",)


def prepare_argv(script: str, args: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(modules to import, the script's argv)``: ``--env MOD:ID`` becomes ``--env ID`` (``MOD`` imported), and
    ``--gym-packages A B`` is dropped for scripts that do not accept it (``A``, ``B`` imported)."""
    if script not in SCRIPTS:
        raise SystemExit(f"rayenvs.zoo: unknown rl-zoo3 script {script!r}; choose one of {', '.join(SCRIPTS)}")
    modules = ["rayenvs"]
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--gym-packages":
            j = i + 1
            while j < len(args) and not args[j].startswith("-"):
                modules.append(args[j])
                j += 1
            if script not in _NO_GYM_PACKAGES:
                out.extend(args[i:j])
            i = j
            continue
        if (arg == "--env" and i + 1 < len(args)) or arg.startswith("--env="):
            value = arg.split("=", 1)[1] if arg.startswith("--env=") else args[i + 1]
            if ":" in value:
                module, value = value.split(":", 1)
                modules.append(module)
            out.extend(["--env", value])
            i += 1 if arg.startswith("--env=") else 2
            continue
        out.append(arg)
        i += 1
    return list(dict.fromkeys(modules)), out


def headless_gl(environ: dict[str, str] | os._Environ[str] = os.environ, platform: str = sys.platform) -> None:
    """Select MuJoCo's EGL backend on a Linux machine without a display (before mujoco is imported), unless the
    user chose one: GLFW, the default, fails there with "an OpenGL platform library has not been loaded"."""
    if platform.startswith("linux") and not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        if "MUJOCO_GL" not in environ:
            environ["MUJOCO_GL"] = "egl"
            environ.setdefault("PYOPENGL_PLATFORM", "egl")


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[0] + f"\nusage: python -m rayenvs.zoo {{{','.join(SCRIPTS)}}} [ARGS ...]")
        return
    modules, script_argv = prepare_argv(argv[0], argv[1:])
    headless_gl()
    for module in modules:
        importlib.import_module(module)
    sys.argv = [f"rl_zoo3.{argv[0]}", *script_argv]
    runpy.run_module(f"rl_zoo3.{argv[0]}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
