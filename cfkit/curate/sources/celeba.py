"""CelebA: documented official location (Google/Baidu Drive behind an agreement); use --src."""

from cfkit.curate.profiles import PHOTO
from cfkit.curate.sources import SOURCES, Source


@SOURCES.register("celeba")
class CelebaSource(Source):
    name = "celeba"
    profile = PHOTO
    help = "CelebA faces (download behind an agreement): --src with your copy"
