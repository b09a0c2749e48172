"""The local runtime: each replica a guarded child process on this machine (``runtime.py``)."""
