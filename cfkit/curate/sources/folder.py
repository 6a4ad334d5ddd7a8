"""Any images of your own: --src is required."""

from cfkit.curate.sources import SOURCES, Source


@SOURCES.register("folder")
class FolderSource(Source):
    name = "folder"
