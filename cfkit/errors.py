"""Errors that reach the user as one clear line (no traceback)."""


class CfkitError(Exception):
    """A problem the user can fix; the CLI prints ``error: <message>`` and exits non-zero."""

    exit_code = 2


class InputError(CfkitError):
    """Unusable input: a missing folder, a corrupt image, an unmatched id."""


class AssetMissingError(CfkitError):
    """A pretrained asset is not installed; the message names the fetch command."""

    def __init__(self, name: str, detail: str = ""):
        self.name = name
        extra = f" ({detail})" if detail else ""
        super().__init__(f"model asset '{name}' is not available{extra}; run: cfkit models fetch {name}")
