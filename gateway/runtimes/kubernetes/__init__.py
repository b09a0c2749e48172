"""The Kubernetes runtime: a StatefulSet and a headless Service per workload (``runtime.py``)."""
