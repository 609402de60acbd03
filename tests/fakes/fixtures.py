"""Pytest fixtures for the test doubles in tests/fakes (loaded by tests/conftest.py)."""

from __future__ import annotations
