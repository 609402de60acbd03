"""Drivers: the engines that create, start, stop and destroy desk VMs (see base.py)."""
