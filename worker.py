"""The sopflow worker: the incident workflow and its activities on a Temporal task queue.

Configuration comes from the environment, so the same worker runs against the embedded dev
server and a production cluster:

- ``TEMPORAL_ADDRESS`` (default ``localhost:7233``), ``TEMPORAL_NAMESPACE`` (``default``);
- TLS: ``TEMPORAL_TLS_CERT`` and ``TEMPORAL_TLS_KEY`` (client certificate files),
  ``TEMPORAL_TLS_CA`` (server CA file), or ``TEMPORAL_TLS=1`` for TLS with system roots;
  ``TEMPORAL_API_KEY`` for Temporal Cloud API keys;
- ``SOPFLOW_TASK_QUEUE`` (default ``sopflow``);
- ``SOPFLOW_DATA_REGIONS`` (e.g. ``UK``): also serve the user-data activities of these data
  regions on their own queues (``sopflow-data-UK``), so the activities that touch a region's
  user data run only on its workers (the main queue's workflow tasks still reach every worker);
- ``SOPFLOW_DEPLOYMENT`` and ``SOPFLOW_BUILD_ID``: turn on Worker Versioning; runs are pinned
  to the build they started on;
- ``SOPFLOW_CONFIG``: the notification channels (see activities/config.py);
- ``SOPFLOW_TRUSTED_KEYS``: the public keys whose action signatures it accepts (files or
  directories of ``*.pub``; default the dev keys in ``.sopflow/keys``). It refuses to start
  without one: a worker that cannot verify who acts would have to accept everyone.

Logs are structured (structlog): JSON when stdout is not a terminal. SIGTERM and SIGINT
stop it cleanly: in-flight activities get ``SHUTDOWN_GRACE`` (10 s) to finish, then it
exits.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig

from activities.config import load_config
from activities.registry import build_activities
from sopflow.client.codec import CodecError
from sopflow.client.connection import (  # re-exported: worker.tls_from_env etc. keep working
    connect_from_env,
    data_task_queue,
    task_queue_from_env,
    tls_from_env,
)
from sopflow.client.logs import configure_logging as configure_structured_logs
from sopflow.client.signing import (
    DEV_KEYS_DIR,
    TRUSTED_KEYS_ENV,
    KeyFileError,
    KeyRing,
    keyring_from_env,
)
from workflows.incident import IncidentWorkflow
from workflows.review import PostmortemReviewWorkflow
from workflows.sandbox import workflow_runner
from workflows.trust import verification_interceptor

__all__ = [
    "build_workers",
    "configure_logging",
    "connect_from_env",
    "data_task_queue",
    "deployment_from_env",
    "main",
    "tls_from_env",
]

log = structlog.get_logger("sopflow.worker")

# On SIGTERM, activities already running get this long to finish before they are cancelled
# (the SDK's default is none): a notification half sent is then finished, not retried.
SHUTDOWN_GRACE = timedelta(seconds=10)


def configure_logging() -> None:
    """Structured logs (sopflow.client.logs), without the SDK's repeated workflow info."""
    configure_structured_logs()
    # Our fields carry the incident; the SDK's "(workflow info)" suffix would only repeat it.
    workflow.logger.workflow_info_on_message = False


def deployment_from_env() -> WorkerDeploymentConfig | None:
    name, build = os.environ.get("SOPFLOW_DEPLOYMENT"), os.environ.get("SOPFLOW_BUILD_ID")
    if not (name and build):
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=name, build_id=build),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.PINNED,
    )


class NoTrustedKeys(Exception):
    """The worker has no public key to verify actions with."""


def trusted_keys() -> KeyRing:
    """The keys this worker accepts action signatures from; NoTrustedKeys when none."""
    keyring = keyring_from_env()
    if not keyring.keys:
        raise NoTrustedKeys(
            f"no trusted action keys: set {TRUSTED_KEYS_ENV} to the public key files (or a "
            f"directory of *.pub files) of the API and operators, or run `sopflow dev`, "
            f"which makes dev keys in {DEV_KEYS_DIR}"
        )
    return keyring


def build_workers(
    client: Client, executor: ThreadPoolExecutor, keyring: KeyRing | None = None
) -> list[Worker]:
    """The main worker (workflows and all activities) and one per served data region;
    actions are accepted only when signed by a key in ``keyring`` (default: from the
    environment)."""
    keyring = keyring or trusted_keys()
    base = task_queue_from_env()
    activities = build_activities(load_config())
    deployment = deployment_from_env()
    workers = [
        Worker(
            client,
            task_queue=base,
            workflows=[IncidentWorkflow, PostmortemReviewWorkflow],
            activities=activities,
            activity_executor=executor,
            interceptors=[verification_interceptor(keyring.verify)],
            deployment_config=deployment,
            # The interpreter's modules are imported once, not once per run (workflows/sandbox.py).
            workflow_runner=workflow_runner(),
            # After a worker dies, the server retries its sticky queue this long before
            # handing the incident to another worker: keep the pause short.
            sticky_queue_schedule_to_start_timeout=timedelta(seconds=2),
            graceful_shutdown_timeout=SHUTDOWN_GRACE,
        )
    ]
    regions = [
        r.strip() for r in os.environ.get("SOPFLOW_DATA_REGIONS", "").split(",") if r.strip()
    ]
    for region in regions:
        workers.append(
            Worker(
                client,
                task_queue=data_task_queue(region, base),
                activities=activities,
                activity_executor=executor,
                graceful_shutdown_timeout=SHUTDOWN_GRACE,
            )
        )
    return workers


async def main() -> None:
    configure_logging()
    keyring = trusted_keys()  # before connecting: a misconfigured worker stops at once
    client = await connect_from_env()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=16) as executor:
        workers = build_workers(client, executor, keyring)
        queues = [w.task_queue for w in workers]
        log.info(
            "worker.started",
            address=client.service_client.config.target_host,
            queues=queues,
            trusted_keys=sorted(f"{k.key_id} ({k.label})" for k in keyring.keys.values()),
        )
        runs = [asyncio.create_task(w.run()) for w in workers]
        await stop.wait()
        log.info("worker.stopping")
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*runs, return_exceptions=True)
    log.info("worker.stopped")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except CodecError as exc:  # misconfigured payload keys: say so in one line, no traceback
        log.error("worker.codec_config", error=str(exc))
        sys.exit(1)
    except (NoTrustedKeys, KeyFileError) as exc:
        log.error("worker.signing_keys", error=str(exc))
        sys.exit(1)
