"""Helpers shared by several ``baselines`` subpackages: torch devices (``devices``) and metric names
(``metric_keys``). The lowest baselines layer: it imports no other subpackage.
"""
