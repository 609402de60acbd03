"""Persistent memory: past exchanges and notes in LanceDB, recalled across threads."""
