"""``pulumi up`` entry point for standalone use (see Pulumi.yaml); the driver runs it inline."""

from __future__ import annotations

from infra.desk import standalone_program

standalone_program()
