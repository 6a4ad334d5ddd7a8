"""ID photos: no public set; use --src (folder, archive, URL list with licence column)."""

from cfkit.curate.sources import SOURCES, Source


@SOURCES.register("idphoto")
class IdphotoSource(Source):
    name = "idphoto"
