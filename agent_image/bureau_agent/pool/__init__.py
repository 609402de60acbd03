"""The agent's "unassigned" mode for the warm pool (issue 9).

A pooled clone of a booted VM runs ``python -m bureau_agent.pool`` as root and waits on the agent
port for one ``POST /pool/v1/resume``; see ``resume.py`` for the steps, in their security order.
"""
