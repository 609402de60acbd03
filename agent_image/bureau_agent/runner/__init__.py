"""The run loop: a thin manager (``manager``) over the phases (prepare, execute, resolve)."""
