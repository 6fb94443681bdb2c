"""``rapport web SERVICE``: the service's Flask app under gunicorn."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, service: str, options: dict[str, Any]) -> None:
        self.service = service
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from services.bootstrap import create_app

        return create_app(self.service)


def _child_exit(_server: Any, worker: Any) -> None:
    # Drop a dead worker's live gauges from the multiprocess metrics.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def serve(service: str, bind: str, workers: int) -> int:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        directory = tempfile.mkdtemp(prefix=f"rapport-{service}-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    else:
        directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)
    options = {
        "bind": bind,
        "workers": max(1, workers),
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,
        # The app is built once in the master and the workers fork from it: each worker no
        # longer imports and builds it again (about a second of CPU each), shares those pages
        # with its siblings, and a replaced worker serves sooner. Building it opens no database
        # or broker connection and starts no thread (test_webserver checks), so nothing that
        # cannot cross a fork is made before it.
        "preload_app": True,
        "child_exit": _child_exit,
        "proc_name": f"rapport-{service}-web",
        # gunicorn's control socket lives in $HOME: shared by every gunicorn on the host and
        # unwritable on a read-only root filesystem; Rapport does not use it.
        "control_socket_disable": True,
    }
    _Gunicorn(service, options).run()
    return 0
