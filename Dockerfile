# Waymark server image (docs/operations.md#deploying-docker-compose-kubernetes).
#
#   docker build -t waymark:0.1.0 .
#   docker run --rm -e WAYMARK_DATABASE_URL=postgresql://… waymark:0.1.0 admin migrate
#   docker run -d -p 8765:8765 -e WAYMARK_DATABASE_URL=postgresql://… waymark:0.1.0
#
# Migrations are a separate step (`waymark admin migrate`, run once per release before the
# servers); `waymark serve` would apply pending ones too, under a lock, but a release should
# not wait on whichever instance starts first.

# --- build: install Waymark and its dependencies into a virtual environment -----------
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/waymark
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sync ./sync
COPY server ./server
COPY client ./client
COPY tui ./tui
COPY cli ./cli
RUN /opt/waymark/bin/pip install .

# --- run: the virtual environment only, as an unprivileged user ------------------------
FROM python:3.11-slim

ENV PATH=/opt/waymark/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 waymark \
    && useradd --system --uid 10001 --gid waymark --home-dir /var/lib/waymark --create-home waymark
COPY --from=build /opt/waymark /opt/waymark

# The default database (sqlite:///waymark.db) lands here: mount a volume on it for SQLite,
# and create it once with `docker run -v DATA:/var/lib/waymark IMAGE admin init`.
# With PostgreSQL (WAYMARK_DATABASE_URL) nothing is written, and the root filesystem can be
# read-only.
WORKDIR /var/lib/waymark
USER 10001:10001

EXPOSE 8765
# Liveness: the process answers. (No curl in the slim image; Python is there.)
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8765/v1/health', timeout=2)"]

ENTRYPOINT ["waymark"]
CMD ["serve", "--host", "0.0.0.0"]
