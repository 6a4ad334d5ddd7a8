"""Any images of your own: --src is required."""

from cfkit.curate.profiles import PHOTO
from cfkit.curate.sources import SOURCES, Source


@SOURCES.register("folder")
class FolderSource(Source):
    name = "folder"
    profile = PHOTO
    help = "your own photos: --src folder, archive, URL list or URL"
