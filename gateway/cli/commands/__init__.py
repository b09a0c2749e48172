"""The CLI's commands, one module per area; :mod:`gateway.cli.app` puts them together."""
