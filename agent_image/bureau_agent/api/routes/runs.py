"""Placeholder router (filled in with the run loop)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
