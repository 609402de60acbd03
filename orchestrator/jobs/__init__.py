"""Jobs in the database and the workers that run them (DESIGN.md §3)."""
