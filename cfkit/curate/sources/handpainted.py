"""Hand-painted portraits: no official set; use --src (e.g. a `cfkit scrape` output folder)."""

from cfkit.curate.profiles import DRAWING
from cfkit.curate.sources import SOURCES, Source


@SOURCES.register("handpainted")
class HandpaintedSource(Source):
    name = "handpainted"
    profile = DRAWING
    help = "hand-painted portraits (no official set): --src, e.g. a cfkit scrape folder"
