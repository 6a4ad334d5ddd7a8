"""``cfkit scrape``: a thin CLI over :func:`cfkit.curate.scrape.scrape`."""

from __future__ import annotations

from pathlib import Path

import typer

from cfkit.curate.scrape import ScrapeOptions

D = ScrapeOptions().download


def register(app: typer.Typer) -> None:
    """Add ``scrape`` to the root app."""

    @app.command("scrape")
    def scrape_cmd(
        out: Path = typer.Option(..., "--out", help="Folder for the images, downloads.jsonl and provenance.parquet."),
        urls: Path | None = typer.Option(None, "--urls", help="URL list: 'URL [sha256] [licence]' lines or a CSV."),
        page: list[str] = typer.Option(None, "--page", help="HTML page whose images to fetch (repeatable)."),
        rate: float = typer.Option(D.min_interval, "--rate", help="Seconds between two requests to one host."),
        workers: int = typer.Option(D.workers, "--workers", help="Parallel downloads (across hosts)."),
        max_mb: float = typer.Option(D.max_bytes / 2**20, "--max-mb", help="Per-file size limit in MiB."),
        licence: str | None = typer.Option(None, "--licence", help="Licence note where the page/list gives none."),
        allow_host: list[str] = typer.Option(
            None, "--allow-host", help="Host that may be loopback/private/link-local (refused otherwise; repeatable)."
        ),
    ) -> None:
        """Download images from URL lists and HTML pages: polite (robots.txt, per-host rate limit),
        resumable, deduplicated by sha256, with provenance (URL, page, time, licence hint) per image.

        Example: cfkit scrape --page https://example.org/portraits --out data/raw/handpainted --rate 2
        """
        from cfkit.console import console, info
        from cfkit.curate.scrape import scrape, scrape_options

        download = {"min_interval": rate, "workers": workers, "max_bytes": int(max_mb * 2**20)}
        opts = scrape_options({"licence": licence, "download": {**download, "allow_hosts": allow_host or []}})
        rep = scrape(out, urls_file=urls, pages=tuple(page or ()), options=opts)
        rejected = ", ".join(f"{k} {v}" for k, v in rep.rejected.items()) or "none"
        info(f"rejected: {rejected}")
        if rep.pages_failed:
            info("pages skipped: " + ", ".join(f"{u} ({why})" for u, why in rep.pages_failed))
        console.print(f"{rep.kept} images in {rep.out} (provenance: {rep.provenance})", markup=False)
