"""Hand-painted portraits: no official set; use --src (e.g. a `cfkit scrape` output folder)."""

from cfkit.curate.sources import SOURCES, Source


@SOURCES.register("handpainted")
class HandpaintedSource(Source):
    name = "handpainted"
