# Tool router: `python -m toolrouter`, MCP at :8000/mcp, non-root (uid 1100). Build context: the repository root.
#   docker build -f docker/toolrouter.Dockerfile -t mcp-toolrouter:dev .
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway/ gateway/
COPY toolrouter/ toolrouter/
COPY bridge/ bridge/
# Same distribution as the gateway; of the extras only otel: the router exports traces where the gateway does (it
# gets the same APPLICATIONINSIGHTS_CONNECTION_STRING) and refuses to start without the exporter. It imports no
# store or runtime backend (no redis, azure or kubernetes).
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[otel]"

FROM python:3.11.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PORT=8000
# The router binds 127.0.0.1 by default; in a pod its probes and the gateway connect to the pod's address.
ENV MCPGW_ROUTER__HOST=0.0.0.0
RUN groupadd --gid 1100 mcpgw && useradd --uid 1100 --gid 1100 --no-create-home --shell /usr/sbin/nologin mcpgw
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels "mcp-gateway[otel]" && rm -rf /wheels
USER 1100:1100
EXPOSE 8000
ENTRYPOINT ["python", "-m", "toolrouter"]
