"""Names shared by the operator's modules: the API group, labels, the finalizer."""

from __future__ import annotations

GROUP = "knowledge.cienty.io"
VERSION = "v1alpha1"
PLURAL = "knowledgesources"
KIND = "KnowledgeSource"
API_VERSION = f"{GROUP}/{VERSION}"

FINALIZER = f"{GROUP}/finalizer"
# Kopf keeps its handler progress and last-handled spec in annotations with this prefix.
ANNOTATION_PREFIX = GROUP

SOURCE_LABEL = f"{GROUP}/source"
GENERATION_LABEL = f"{GROUP}/generation"
SYNC_LABEL = f"{GROUP}/sync"
# Set by the Job controller on the Job's pods (both spellings exist across versions).
JOB_NAME_LABEL = "job-name"

APP_NAME = "cienty-knowledge-ingest"
MANAGED_BY = "cienty-knowledge-operator"

# A ConfigMap source is mounted here and handed to the worker as a directory source.
CONFIGMAP_MOUNT_PATH = "/var/run/cienty/source"
REPORT_FILE = "/dev/termination-log"

DEFAULT_COLLECTION = "cienty_knowledge"
