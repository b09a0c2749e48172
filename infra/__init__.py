"""Pulumi program for MCP Gateway: Azure (AKS, App Gateway, Cosmos DB, ACR) or a local kind cluster.

``__main__.py`` only composes; every resource lives in a component under :mod:`infra.components`;
:mod:`infra.config` is the only reader of ``pulumi.Config``.
"""
