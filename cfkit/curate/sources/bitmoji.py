"""Bitmoji faces: on Kaggle (account + API token needed); use --src with the downloaded archive."""

from cfkit.curate.profiles import DRAWING
from cfkit.curate.sources import SOURCES, Source


@SOURCES.register("bitmoji")
class BitmojiSource(Source):
    name = "bitmoji"
    profile = DRAWING
    help = "Bitmoji faces (Kaggle, account needed): --src with the downloaded archive"
