"""The ``rayenvs`` subcommands this package contributes (``train``, ``analyze``, ``reproduce``, and the
sweep arguments); each module has a cheap ``register(subparsers)`` and imports its work in the handler.
"""
