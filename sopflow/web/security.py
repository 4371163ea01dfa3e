"""What every console response and every console form submission must satisfy: the security
headers, the session cookie's attributes, the same-origin check and safe redirects."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import Response

PREFIX = "/console"
COOKIE = "__Host-sopflow_session"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Pages carry incident data: never stored by the browser or a proxy.
NO_STORE = "no-store"
_SAME_SITE = ("same-origin", "none")  # "none": the person typed the address


def secure(response: Response, *, cacheable: bool = False) -> Response:
    """Add the console's headers to ``response``."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if not cacheable:
        response.headers["Cache-Control"] = NO_STORE
    return response


def set_session_cookie(response: Response, session_id: str, max_age_s: int) -> None:
    """The session cookie: ``__Host-`` (no Domain, Path=/, Secure), HttpOnly, SameSite=Strict."""
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=max_age_s,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response) -> None:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")


def same_origin(headers: Headers) -> bool:
    """Whether a form submission comes from a page of this site. ``Sec-Fetch-Site`` when the
    browser sends it; else ``Origin``, compared with ``Host``; a client that sends neither
    (not a browser) is left to the CSRF token."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in _SAME_SITE:
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    if not target or not target.startswith(PREFIX + "/") or target.startswith("//"):
        return PREFIX + "/"
    if "\\" in target or any(not c.isprintable() for c in target):
        return PREFIX + "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return PREFIX + "/"
    return target
