"""Sweeps of envs x variants x seeds, resumable, on a local process pool or Ray (``sweep``).
"""
