"""Evaluation protocols on frozen features, one module each.

What each computes: docs/methods.md#evaluation-protocols.
"""
