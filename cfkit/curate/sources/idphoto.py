"""ID photos: no public set; use --src (folder, archive, URL list with licence column)."""

from cfkit.curate.profiles import PHOTO
from cfkit.curate.sources import SOURCES, Source


@SOURCES.register("idphoto")
class IdphotoSource(Source):
    name = "idphoto"
    profile = PHOTO
    help = "ID photos / selfies (no public set): --src folder, archive or URL list"
