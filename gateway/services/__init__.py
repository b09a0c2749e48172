"""Business rules of the control plane: validate, authorize, then act on the runtime and the store."""
