"""CelebA: documented official location (Google/Baidu Drive behind an agreement); use --src."""

from cfkit.curate.sources import SOURCES, Source


@SOURCES.register("celeba")
class CelebaSource(Source):
    name = "celeba"
