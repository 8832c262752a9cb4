"""Trackers: context managers that wrap a case's measured window (energy, memory, telemetry)."""
