"""REST control plane: HTTP only; every rule lives in ``gateway.services``."""
