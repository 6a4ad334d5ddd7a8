"""Why an input did not become a file: one machine-readable reason plus human detail."""

from __future__ import annotations

from dataclasses import dataclass

REJECT_REASONS = (
    "not_found",  # HTTP 404/410, missing local file
    "http_error",  # any other HTTP status / protocol failure after retries
    "network",  # connection refused, timeouts after retries
    "not_image",  # HTML or other non-image content (content-type or decode)
    "corrupt",  # truncated / undecodable image or archive member
    "empty",  # zero bytes
    "too_large",  # over the per-file byte limit or the pixel limit (decompression bomb)
    "checksum_mismatch",  # sha256/md5 differs from the published one
    "robots_disallowed",  # robots.txt forbids the URL
    "unsafe_path",  # archive member escaping the target folder, symlink, device file
    "encrypted",  # password-protected archive member
    "unsupported",  # archive member in a compression method Python cannot read
    "duplicate",  # same sha256 as an earlier image
    "unreadable",  # permission denied
    "private_address",  # a user-given URL's host is loopback/private/link-local (see DownloadOptions.allow_hosts)
)
"""Machine-readable rejection reasons (``Rejected.reason``); ``detail`` carries the human text."""


@dataclass
class Rejected:
    """An input that did not become a usable file, and why (one of :data:`REJECT_REASONS`)."""

    origin: str
    reason: str
    detail: str = ""


class Reject(Exception):
    """Raised where a download or archive member is refused: ``reason`` (one of :data:`REJECT_REASONS`),
    ``detail``, and whether trying again within the same run may help (``retry``)."""

    def __init__(self, reason: str, detail: str = "", retry: bool = False):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.retry = reason, detail, retry
