# syntax=docker/dockerfile:1
# The deployable image: build on the official Swift image, run on a slim Ubuntu as a non-root user.

# ---- build ------------------------------------------------------------------------------------------------
FROM swift:6.3-noble AS build
WORKDIR /build
# Dependencies resolve in their own layer, cached until Package.swift changes.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
COPY Benchmarks ./Benchmarks
RUN swift build -c release --static-swift-stdlib --product timesheets \
    && mkdir -p /staging \
    && cp "$(swift build -c release --show-bin-path)/timesheets" /staging/ \
    && cp -R "$(swift build -c release --show-bin-path)/timesheets_TimesheetAPI.resources" /staging/

# ---- run --------------------------------------------------------------------------------------------------
FROM ubuntu:noble
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin timesheets
WORKDIR /app
COPY --from=build --chown=root:root /staging/ /app/
COPY --chown=root:root migrations /app/migrations
ENV PATH="/app:${PATH}" \
    HOST=0.0.0.0 \
    PORT=8080
USER timesheets:timesheets
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["timesheets", "healthcheck"]
ENTRYPOINT ["timesheets"]
CMD ["serve"]
