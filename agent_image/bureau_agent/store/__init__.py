"""The agent's state: one SQLite file under the data directory."""
