"""Translation methods: every module here registers one :class:`cfkit.train.method.Method`.

Adding a method = adding one module to this package (see ``template.py``); it is imported on
the first ``METHODS`` lookup. ``template`` itself is documentation and is only registered when
imported explicitly.
"""

from __future__ import annotations

import importlib
import pkgutil

SKIP = {"template"}

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in SKIP and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
