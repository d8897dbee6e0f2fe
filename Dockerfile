# cmot dashboard. Mirrors scripts/setup.sh --serve (venv, upgrade pip, pinned requirements.txt,
# Debian's nginx) and scripts/serve.sh (one app process per core behind nginx, sticky
# sessions); the store lives on the /data volume.
#   docker build -t cmot .
#   docker run -p 8501:8501 -v cmot-data:/data \
#     -v "$PWD/secrets.toml:/app/.streamlit/secrets.toml:ro" cmot    # secrets: optional login
#   docker run ... cmot bash scripts/serve.sh 4                     # 4 app processes
FROM python:3.11-slim

WORKDIR /app
# DejaVu gives the PDF report its class symbols and non-Latin-1 names.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends fonts-dejavu-core nginx \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt .
RUN python -m venv .venv \
 && .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip \
 && .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt \
 && useradd --system --uid 10001 --home-dir /app cmot \
 && mkdir /data && chown cmot /data
COPY . .

# CMOT_DB: read only to migrate a volume's single-file store from before the directory store.
# NUMBA_CACHE_DIR: the engine's compiled loops, kept on the volume (/app is not the user's).
ENV CMOT_STORE=/data/store \
    CMOT_DB=/data/cmot.duckdb \
    CMOT_PORT=8501 \
    CMOT_MAX_UPLOAD_MB=500 \
    CMOT_MAX_ROWS=5000000 \
    CMOT_MAX_COLUMNS=2000 \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none \
    NUMBA_CACHE_DIR=/data/numba-cache \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
USER cmot
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD .venv/bin/python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"
CMD ["bash", "scripts/serve.sh"]
