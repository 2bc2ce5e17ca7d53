"""Evaluation protocols on frozen features, one module each (METHODS.md §0)."""
