"""The run loop: a thin manager (``manager``) over phases (prepare, execute, resolve) in ``loop``."""
