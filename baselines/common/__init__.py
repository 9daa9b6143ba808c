"""Helpers shared by several ``baselines`` subpackages (devices).
"""
