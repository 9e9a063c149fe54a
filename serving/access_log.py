"""The access log without query strings or personal links: a token or a student number put in a URL by
mistake (a refused ``?token=...``), or a student's link (``/v/<token>``), must not end up in the server's
log files."""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"
LINK_PREFIX = "/v/"


def redacted(path: str) -> str:
    """``path`` without its query string and without the token of a personal link."""
    if path.startswith(LINK_PREFIX):
        rest = path[len(LINK_PREFIX) :].split("?", 1)[0]
        tail = rest.split("/", 1)[1] if "/" in rest else None
        return LINK_PREFIX + "…" + (f"/{tail}" if tail else "")
    return path.split("?", 1)[0] + "?…" if "?" in path else path


class DropQueryStrings(logging.Filter):
    """Rewrites uvicorn's access records (client, method, path, version, status) to the path alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redacted(args[2]), *args[3:])
        return True


def install_access_filter() -> None:
    """Add the filter to uvicorn's access logger once per process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, DropQueryStrings) for f in logger.filters):
        logger.addFilter(DropQueryStrings())
