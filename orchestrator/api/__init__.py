"""The HTTP API of the control plane (DESIGN.md §5)."""
