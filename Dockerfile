# webtext: the whole build, and the Beam workers' custom container on Dataflow.
#   docker build -t webtext .
#   docker run --rm -v "$PWD/out:/out" webtext build --until 2017-12 --out /out
# Dataflow worker image (target `worker`: the same install plus Beam's worker boot, as Beam's
# custom-container contract requires; WEBTEXT_EXTRAS adds apache-beam[gcp]):
#   docker build --target worker --build-arg WEBTEXT_EXTRAS=dev,dataflow \
#       -t REGION-docker.pkg.dev/PROJECT/webtext/worker:0.1.0 . && docker push ...
ARG BEAM_VERSION=2.77.0
FROM apache/beam_python3.11_sdk:${BEAM_VERSION} AS beam_sdk

FROM python:3.11-slim AS webtext

# gcc/g++ build Dragnet's Cython extensions; libxml2/libxslt headers are not needed (lxml ships wheels).
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ make \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/webtext
COPY pyproject.toml constraints.txt README.md ./
COPY scripts/ scripts/
COPY webtext/ webtext/
COPY pipelines/ pipelines/
COPY dags/ dags/

# The CPU build of torch: the default index would pull several GB of CUDA wheels.
# WEBTEXT_EXTRAS=dev,dataflow adds apache-beam[gcp] so the image also serves as Dataflow's worker
# container (docs/pipeline.md); the default keeps the image small.
ARG WEBTEXT_EXTRAS=dev
ENV PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu \
    TORCH_SPEC=torch==2.13.0+cpu \
    WEBTEXT_EXTRAS=${WEBTEXT_EXTRAS} \
    VENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    PYTHONUNBUFFERED=1
RUN bash scripts/install.sh && rm -rf /root/.cache/pip

WORKDIR /work
ENTRYPOINT ["webtext"]
CMD ["--help"]

# The Dataflow worker: Beam's boot program starts the SDK harness with this image's Python
# (/opt/venv first on PATH), which has webtext, Dragnet and the retrained model installed.
FROM webtext AS worker
COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]

# The default target stays the `webtext` command line.
FROM webtext
