"""The Action API's error codes as the domain exceptions of ``collab/errors.py``: the one place that maps them."""

from __future__ import annotations

from typing import Any

from ..errors import EditConflict, InvalidTitle, SaveRefused, WikiError, WikiUnavailable

_INVALID_TITLE = ("invalidtitle", "invalidtitle-unknown")

_REFUSALS = {
    "protectedpage": "the page is protected",
    "cascadeprotected": "the page is protected by a cascading protection",
    "contenttoobig": "the text is larger than the wiki allows",
    "missingtitle": "the page has been deleted",
    "pagedeleted": "the page has been deleted",
    "articleexists": "the page was created meanwhile",
    "ratelimited": "the wiki's rate limit was hit",
    "blocked": "the bot account is blocked",
    "autoblocked": "the bot account is blocked",
    "readonly": "the wiki is in read-only mode",
    "spamblacklist": "the spam blacklist refused a link",
}


def save_error(exc: Any) -> WikiError:
    """The domain error for an ``action=edit`` refusal (an mwclient ``APIError``: ``code``, ``info``)."""
    code = str(exc.code)
    info = str(exc.info)
    if code == "editconflict":
        return EditConflict(info)
    if code.startswith(("abusefilter", "spam", "titleblacklist")) or code in _REFUSALS:
        what = _REFUSALS.get(code, "a wiki filter refused the save")
        return SaveRefused(f"{what}: {info}", code=code)
    if _transient(code) and code != "readonly":
        return WikiUnavailable(f"the wiki had an internal error ({code}): {info}", code="wikiunavailable")
    return SaveRefused(info, code=code)


def _transient(code: str) -> bool:
    """An error of the wiki itself that a later try may not meet (a database error, replication lag)."""
    return code.startswith("internal_api_error") or code in ("maxlag", "readonly")


def query_error(code: str, info: str | None) -> WikiError:
    """The domain error for a failed query: :class:`InvalidTitle` for a bad title, :class:`WikiUnavailable`
    for an internal error of the wiki (retry later), else :class:`WikiError` with the API's code."""
    if code in _INVALID_TITLE:
        return InvalidTitle(info if info is not None else "invalid title")
    if _transient(code):
        return WikiUnavailable(f"the wiki had an internal error ({code}): {info}", code="wikiunavailable")
    return WikiError(info if info is not None else "wiki error", code=code)


def no_answer(exc: BaseException) -> WikiUnavailable:
    """The domain error for a call the wiki did not answer (connection refused, timeout, retries exhausted)."""
    return WikiUnavailable(f"the wiki did not answer: {type(exc).__name__}")


def login_reason(exc: Any) -> str:
    """Why the wiki refused a login, from an mwclient ``LoginError`` (its second argument is the answer)."""
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    info = args[1] if len(args) >= 2 else None
    if isinstance(info, dict):
        return str(info.get("reason") or info.get("result") or info)
    return str(exc)


def bad_answer(what: str | BaseException) -> WikiUnavailable:
    """The domain error for an answer that is not the Action API's JSON: a proxy's or WAF's HTML page (403,
    429), an empty or truncated body, a shape the API never sends. Retryable: the text is kept."""
    if isinstance(what, BaseException):
        what = f"{type(what).__name__}: {str(what)[:200]}"
    return WikiUnavailable(f"the wiki's answer was not understood: {what}")
