# Tool router: `python -m toolrouter`, MCP at :8000/mcp, non-root (uid 1100). Build context: the repository root.
#   docker build -f docker/toolrouter.Dockerfile -t mcp-toolrouter:dev .
FROM python:3.12.8-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway/ gateway/
COPY toolrouter/ toolrouter/
# Same distribution as the gateway; the router needs no cloud extras.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12.8-slim-bookworm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PORT=8000
RUN groupadd --gid 1100 mcpgw && useradd --uid 1100 --gid 1100 --no-create-home --shell /usr/sbin/nologin mcpgw
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links /wheels mcp-gateway && rm -rf /wheels
USER 1100:1100
EXPOSE 8000
ENTRYPOINT ["python", "-m", "toolrouter"]
