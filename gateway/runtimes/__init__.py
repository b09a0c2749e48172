"""Runtimes run adapters and tools: ``local`` (child processes) and ``kubernetes`` (StatefulSets)."""
