# MCP Gateway: `mcp-gateway serve` on :8000, non-root (uid 1100). Build context: the repository root.
#   docker build -f docker/gateway.Dockerfile -t mcp-gateway:dev .
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway/ gateway/
COPY toolrouter/ toolrouter/
COPY bridge/ bridge/
# Wheels for the app and the extras its deployments use: azure (the AKS stacks' Cosmos DB, workload identity),
# kubernetes (the runtime), redis (MCPGW_SESSIONS__KIND=redis with MCPGW_SESSIONS__SEALED=false; the stacks seal
# session ids instead) and otel (the trace exporters: the Azure stack sets APPLICATIONINSIGHTS_CONNECTION_STRING,
# and the gateway refuses to start with an exporter it cannot load).
# The runtime stage installs them without a compiler.
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[azure,kubernetes,redis,otel]"

FROM python:3.11.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --gid 1100 mcpgw && useradd --uid 1100 --gid 1100 --no-create-home --shell /usr/sbin/nologin mcpgw
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels "mcp-gateway[azure,kubernetes,redis,otel]" && rm -rf /wheels
WORKDIR /data
USER 1100:1100
EXPOSE 8000
ENTRYPOINT ["mcp-gateway"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
