"""Pretrained model assets: one registry, official URLs with sha256, registry-package fallbacks.

    from cfkit.assets import asset_path
    onnx = asset_path("scrfd")                 # Path, or AssetMissingError naming the fetch command
    dat = asset_path("dlib-landmarks68")

Assets live under ``$CFKIT_HOME/assets/<name>/`` (default ``~/.cache/cfkit``).
"""

from cfkit.assets.catalog import ASSETS
from cfkit.assets.spec import Asset, PackageSource, UrlSource
from cfkit.assets.store import asset_dir, asset_info, asset_path, fetch, is_installed, verify

__all__ = [
    "ASSETS",
    "Asset",
    "PackageSource",
    "UrlSource",
    "asset_dir",
    "asset_info",
    "asset_path",
    "fetch",
    "is_installed",
    "verify",
]
