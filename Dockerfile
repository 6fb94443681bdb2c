# syntax=docker/dockerfile:1
# One image for every Rapport process; the compose command picks the service and role,
# e.g. `rapport web scheduler`, `rapport worker notifier`, `rapport migrate billing`.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/rapport
WORKDIR /src
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
RUN /opt/rapport/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/rapport/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RAPPORT_VAR_DIR=/app/var
RUN groupadd --system --gid 10001 rapport \
    && useradd --system --uid 10001 --gid rapport --home-dir /app --shell /usr/sbin/nologin rapport \
    && install -d -o rapport -g rapport /app /app/var
COPY --from=build /opt/rapport /opt/rapport
WORKDIR /app
USER rapport
EXPOSE 8000 9100
ENTRYPOINT ["rapport"]
CMD ["--help"]
