"""cfkit.study: blind human rating studies of translation results.

Python API (what ``cfkit study`` and the demo call)::

    from cfkit.study import create_study, open_db, analyze
    create_study(name="s1", out="studies/s1", from_eval="eval/x", n_sources=12)     # or methods=..., source=...
    db = open_db("studies/s1/study.db")          # or "postgresql://user:pw@host/db"
    code = start_participant(db, "s1"); trial = current_trial(db, "s1", code)
    submit(db, "s1", code, trial.trial_id, {"overall": {token: 4, ...}, ...})
    result = analyze(db, "s1", out="studies/s1/analysis")
"""

from __future__ import annotations

import importlib

_API = {
    "StudyConfig": "cfkit.study.config",
    "create_study": "cfkit.study.design",
    "export_yaml": "cfkit.study.design",
    "study_definition": "cfkit.study.design",
    "open_db": "cfkit.study.db",
    "Database": "cfkit.study.db",
    "start_participant": "cfkit.study.volunteer",
    "current_trial": "cfkit.study.volunteer",
    "submit": "cfkit.study.volunteer",
    "completion_code": "cfkit.study.volunteer",
    "trial_pngs": "cfkit.study.stimuli",
    "StudyFull": "cfkit.study.volunteer",
    "ratings_frame": "cfkit.study.export",
    "progress": "cfkit.study.export",
    "analyze": "cfkit.study.analysis",
    "serve_command": "cfkit.study.serve",
}
__all__ = sorted(_API)


def __getattr__(name: str):  # lazy: `cfkit --help` must not import SQLAlchemy/pandas
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'cfkit.study' has no attribute '{name}'")
