"""Every default enclii_iac owns, and every pinned version, each with the reason for it.

Nothing here floats: a bump is a pull request that also updates the golden files.
"""

from __future__ import annotations

from typing import Final

# --- Kubernetes --------------------------------------------------------------------------------------
KUBERNETES_VERSION: Final = "1.33.0"
"""Schema version manifests are validated against; matches the minor of K3S_VERSION."""

K3S_VERSION: Final = "v1.33.4+k3s1"
"""k3s release installed on every node; an exact tag, never a channel (upgrades are explicit PRs)."""

CONTAINER_CPU_REQUEST: Final = "100m"
"""Default CPU request: enough to schedule ~60 small services on the AX41's 6 cores."""
CONTAINER_CPU_LIMIT: Final = "1000m"
"""Default CPU limit: one core, so one tenant cannot starve the box."""
CONTAINER_MEMORY_REQUEST: Final = "128Mi"
"""Default memory request: a small web process."""
CONTAINER_MEMORY_LIMIT: Final = "512Mi"
"""Default memory limit: bounded so the kernel OOM killer hits the tenant, not the node."""
CONTAINER_CPU_MAX: Final = "4"
"""Most CPU one container may request or be limited to (the namespaces' LimitRange max): a third of the AX41."""
CONTAINER_MEMORY_MAX: Final = "16Gi"
"""Most memory one container may request or be limited to (the LimitRange max): a quarter of the AX41."""
EPHEMERAL_STORAGE_LIMIT: Final = "1Gi"
"""Default ephemeral-storage limit: a read-only root plus a small /tmp emptyDir."""

TMP_VOLUME_SIZE: Final = "64Mi"
"""Size of the writable /tmp emptyDir mounted in every tenant container (the root is read-only)."""

RUN_AS_USER: Final = 10001
"""UID for tenant containers: non-root and above 10000 (checkov CKV_K8S_40), outside host UID ranges."""
RUN_AS_GROUP: Final = 10001
"""GID paired with RUN_AS_USER."""

CRON_JOB_TTL: Final = "168h"
"""How long the Job of a finished cron run is kept, with its pods and their logs: a week, so a run that failed on
Friday night can still be read on Monday (the CronJob's history limits keep at most 3 of each as well)."""

REPLICAS_MIN: Final = 1
"""Default minimum replicas of a service when the spec omits them."""

HEALTH_INITIAL_DELAY_S: Final = 5
"""Seconds before the first probe."""
HEALTH_PERIOD_S: Final = 10
"""Seconds between probes."""

PROGRESS_DEADLINE_S: Final = 600
"""A rollout that makes no progress for 10 minutes is reported failed."""

REVISION_HISTORY_LIMIT: Final = 5
"""ReplicaSets kept for `kubectl rollout undo`."""

TERMINATION_GRACE_S: Final = 30
"""Seconds a pod gets to drain after SIGTERM."""

IMAGE_PULL_POLICY: Final = "Always"
"""Always re-check the registry (checkov CKV_K8S_15); digests make this cheap and exact."""

# --- Labels and annotations -------------------------------------------------------------------------
LABEL_PREFIX: Final = "enclii.dev"
"""Prefix of every label and annotation enclii_iac writes."""
MANAGED_BY: Final = "enclii-iac"
"""Value of app.kubernetes.io/managed-by on every object."""

# --- Pulumi -----------------------------------------------------------------------------------------
PROJECT_PRODUCTION: Final = "enclii-production"
"""Pulumi project name of stacks/production."""
PROJECT_PREVIEW: Final = "enclii-preview"
"""Pulumi project name of stacks/preview."""
