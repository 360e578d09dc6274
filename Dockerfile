# Veileder: the bot (`run`) or the worker (`worker`), one image for both.
#
#   docker build -t veileder .
#   docker run --env-file .env -v veileder-var:/var/lib/veileder veileder          # the bot
#   docker run --env-file .env -v veileder-var:/var/lib/veileder veileder worker   # a worker
#
# No setting and no secret is baked in: every one comes from the environment at run time (an
# env file), and `.dockerignore` keeps .env, var/ and .venv out of the build context. The
# entrypoint migrates the database (under a lock, so services started at once take turns) and
# then runs the given `python -m bot` command. See docs/DEPLOY.md.

# Debian 12 (bookworm): its postgresql-client is version 15, the PostgreSQL of compose.yaml, so
# `python -m bot backup` (pg_dump) inside the container can dump that server.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md .env.example ./
COPY bot ./bot
COPY storage ./storage
COPY templates ./templates
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VAR_DIR=/var/lib/veileder \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8080
RUN apt-get update \
    && apt-get install --yes --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/veileder \
        --shell /usr/sbin/nologin veileder \
    && install --directory --owner=veileder --group=veileder --mode=0700 /var/lib/veileder
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY deploy/entrypoint.sh /usr/local/bin/veileder-entrypoint
RUN chmod 0755 /usr/local/bin/veileder-entrypoint

# An empty working directory: settings come from the environment, never from a stray .env.
WORKDIR /app
USER veileder
VOLUME ["/var/lib/veileder"]
EXPOSE 8080
# /healthz answers 503 only when the database is down, the scheduler's leader is stale or polling
# has stalled. Only `run` serves it: compose.yaml turns this check off for the worker.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('WEB_PORT', '8080') + '/healthz', timeout=4)"]
ENTRYPOINT ["veileder-entrypoint"]
CMD ["run", "--no-migrate"]
