"""Getting bytes onto disk safely: HTTP downloads (resume, checksums, politeness) and archive extraction.

The core layer under model assets (:mod:`cfkit.assets`), dataset sources (:mod:`cfkit.curate.sources`)
and identity packs (:mod:`cfkit.faces.identity`). It imports only the base modules (errors, fsutil,
console, imageio, options), never a feature package.

    from cfkit.fetch.http import download_one, Downloader
    from cfkit.fetch.archive import extract
"""

from cfkit.fetch.reasons import REJECT_REASONS, Rejected

__all__ = ["REJECT_REASONS", "Rejected"]
