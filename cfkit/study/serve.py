"""Launch the Streamlit study app (volunteer page at ``/``, admin at ``/admin``, metrics explorer at ``/metrics``)."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from cfkit.study.config import ENV_ADMIN_TOKEN, ENV_DB, ENV_EVAL, ENV_STUDY


def app_path() -> Path:
    from cfkit.resources import resource_dir

    return resource_dir("dashboard") / "study_app.py"


def serve_command(
    db: str,
    study: str,
    host: str = "127.0.0.1",
    port: int = 8501,
    admin_token: str | None = None,
    eval_dir: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The ``streamlit run`` argv and environment that serve ``study`` from ``db``."""
    from cfkit.study.db import to_url

    env = dict(os.environ)
    env.update({ENV_DB: to_url(db), ENV_STUDY: study, ENV_ADMIN_TOKEN: admin_token or secrets.token_urlsafe(16)})
    if eval_dir:
        env[ENV_EVAL] = str(Path(eval_dir).resolve())
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path()),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.showErrorDetails",
        "none",  # an uncaught error shows a generic message: no path or method name reaches a volunteer
        "--client.toolbarMode",
        "minimal",
        "--theme.base",
        "light",
    ]
    return argv, env
