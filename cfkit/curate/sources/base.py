"""The base class of a dataset source (one subclass per module of :mod:`cfkit.curate.sources`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfkit.curate.profiles import PHOTO, Profile
from cfkit.curate.sources.options import SourceOptions
from cfkit.curate.sources.raw import Resolved


class Source:
    """Base class of a dataset source; subclasses set the class attributes and override :meth:`official`."""

    name: str = ""
    profile: Profile = PHOTO
    """How its images are processed (:mod:`cfkit.curate.profiles`)."""
    help: str = ""
    """One line for ``cfkit prepare --help``: what the source is and where it comes from."""
    options: type[SourceOptions] = SourceOptions
    """Its own ``-o KEY=VALUE`` options (besides those of downloads and archives), with their defaults."""

    def recipe(self) -> dict[str, Any]:
        from cfkit.curate.sources.recipes import load_dataset_recipe

        return load_dataset_recipe(self.name)

    @property
    def licence(self) -> str | None:
        return self.recipe().get("licence")

    def official(self, workdir: Path, limit: int | None, options: dict[str, Any]) -> Resolved:
        """Fetch the dataset from its official location (or raise a CfkitError that says where it is).

        The default explains the recipe's ``official.manual`` text: for sets that need an interactive
        agreement, an account, or that do not exist publicly.
        """
        from cfkit.errors import CfkitError

        manual = (self.recipe().get("official") or {}).get("manual") or "it has no official download"
        raise CfkitError(
            f"{self.name}: {manual.strip()}; then run: cfkit prepare {self.name} --src DIR|ARCHIVE|URL_LIST|URL"
        )

    def from_src(self, src: str, workdir: Path, limit: int | None, options: dict[str, Any]) -> Resolved:
        """Images from a user-given location; the generic handling fits most sources."""
        from cfkit.curate.sources.inputs import resolve_src

        return resolve_src(src, source=self.name, workdir=workdir, limit=limit, licence=self.licence, options=options)
