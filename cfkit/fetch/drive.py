"""Download-confirmation pages (Google Drive's "cannot scan for viruses, download anyway?"): the real file's URL."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin

from cfkit.fetch.reasons import Reject

MAX_PAGE = 512 << 10
"""A confirmation page is small: a larger HTML answer is not one."""


class Follow(Reject):
    """A download-confirmation page pointing at the real file (``url``)."""

    def __init__(self, url: str):
        super().__init__("not_image", "download confirmation page", retry=True)
        self.url = url


class _ConfirmParser(HTMLParser):
    def __init__(self, base: str):
        super().__init__(convert_charrefs=True)
        self.base, self.form, self.link = base, None, None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.form is None:
            self.form = urljoin(self.base, a.get("action", ""))
        elif tag == "input" and a.get("type", "").lower() == "hidden" and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "a" and "export=download" in a.get("href", "") and self.link is None:
            self.link = urljoin(self.base, a["href"])


def confirmation_target(r, url: str) -> str | None:
    """The real file behind the HTML response ``r`` of ``url``, or None where it is no confirmation page."""
    if int(r.headers.get("content-length") or 0) > MAX_PAGE:
        return None
    body = b""
    for chunk in r.iter_bytes():
        body += chunk
        if len(body) > MAX_PAGE:
            return None
    text = body.decode(r.encoding or "utf-8", errors="replace")
    if "Quota exceeded" in text:
        raise Reject("http_error", "Google Drive download quota exceeded; try again later", retry=False)
    p = _ConfirmParser(url)
    p.feed(text)
    if p.form and "confirm" in p.fields:
        return f"{p.form}{'&' if '?' in p.form else '?'}{urlencode(p.fields)}"
    return p.link
