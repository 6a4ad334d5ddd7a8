"""Bitmoji faces: on Kaggle (account + API token needed); use --src with the downloaded archive."""

from cfkit.curate.sources import SOURCES, Source


@SOURCES.register("bitmoji")
class BitmojiSource(Source):
    name = "bitmoji"
