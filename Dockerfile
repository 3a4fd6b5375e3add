# botwatch: the Python package and its CLI in one image.  docker-compose.yml
# runs it twice: the webhook gateway (`botwatch gateway`) and the demo bot
# (`botwatch demo --rate ...`).  Build context: the repository root
# (.dockerignore lets in only what `pip install .` needs).
#
#   docker build -t botwatch .
#   docker run --rm botwatch demo --conversations 20
FROM python:3.11.14-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# pyproject.toml names README.md as the package's readme: setuptools reads it.
COPY pyproject.toml README.md ./
COPY src ./src
# The core install plus what the compose services need: the webhook gateway
# (and its Redis store); the demo bot needs nothing more than the core.
RUN pip install ".[gateway,redis]" \
    && rm -rf /src

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/botwatch botwatch
USER botwatch
WORKDIR /home/botwatch
# The gateway's event-id store (and a journal, when no collector is set) live here; compose mounts a
# named volume on it, which Docker seeds with this directory's owner and 0700 mode.
RUN mkdir -p -m 0700 /home/botwatch/.local/share/botwatch

EXPOSE 8080
ENTRYPOINT ["botwatch"]
CMD ["--help"]
