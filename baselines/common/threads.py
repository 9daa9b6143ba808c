"""Torch's CPU thread count for the console commands.

Torch defaults to one intra-op thread per core. The small MLPs of these baselines gain nothing from that, and
on a shared or small machine the threads contend with each other and with other processes: an 8192-step
``rayenvs train`` took 72-168 s on 2 busy cores against 7-12.5 s with one thread (issue 14; see
``benchmarks/train_threads.py``). So ``train``, ``reproduce`` and ``quickstart`` run torch on
:data:`DEFAULT_TORCH_THREADS` thread(s) unless ``--threads`` says otherwise, as sweeps already give each
worker its share of the cores.
"""

from __future__ import annotations

import argparse

#: Torch intra-op threads of a console command unless ``--threads`` says otherwise.
DEFAULT_TORCH_THREADS = 1

__all__ = ["DEFAULT_TORCH_THREADS", "add_threads_argument", "cap_torch_threads"]


def add_threads_argument(parser: argparse.ArgumentParser, what: str = "this command") -> None:
    """Add ``--threads N`` (default :data:`DEFAULT_TORCH_THREADS`; 0 keeps torch's own default)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_TORCH_THREADS,
        metavar="N",
        help=f"torch CPU threads of {what} (default: {DEFAULT_TORCH_THREADS}, fastest for these small "
        "networks on a shared machine; 0: torch's default of one per core, worth it for Atari CNNs)",
    )


def cap_torch_threads(threads: int) -> int:
    """Set torch's intra-op (and, when still possible, inter-op) thread count; 0 leaves torch's default.

    The BLAS/OpenMP pools numpy and SciPy loaded (OpenBLAS, MKL) are capped too, through ``threadpoolctl``
    when it is installed, so the command matches a run under ``OMP_NUM_THREADS=N``. Returns the intra-op
    thread count in force afterwards. Raises ``ValueError`` for a negative count.
    """
    from rayenvs.validation import check_int

    check_int("--threads", threads, lo=0, hint=" (0 keeps torch's default)")
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # inter-op threads are fixed once torch has run parallel work in this process
            pass
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # optional: without it only torch's pools are capped
            pass
        else:
            threadpool_limits(threads)  # process-wide; lasts until the process ends
    return torch.get_num_threads()
