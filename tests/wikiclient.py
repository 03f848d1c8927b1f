"""A tiny synchronous MediaWiki API client for tests: one logged-in user per :class:`WikiUser`.

It talks to the real dev wiki (see ``collab/dev/devwiki/``) through ``requests``, ignores proxy settings
(the wiki is on 127.0.0.1), and uses ``formatversion=2`` JSON throughout.
"""

from __future__ import annotations

from typing import Any

import requests

Json = dict[str, Any]


class WikiApiError(RuntimeError):
    """The API answered with an error (``code`` is MediaWiki's error code, e.g. ``editconflict``)."""

    def __init__(self, code: str, info: str = "", response: Json | None = None) -> None:
        super().__init__(f"{code}: {info}" if info else code)
        self.code = code
        self.info = info
        self.response = response or {}


def _encode(value: object) -> str | None:
    """An API parameter value: lists joined with ``|``, True -> "1", False/None -> omitted."""
    if value is None or value is False:
        return None
    if value is True:
        return "1"
    if isinstance(value, list | tuple | set):
        return "|".join(str(item) for item in value)
    return str(value)


class WikiUser:
    """A user session on a wiki's ``api.php`` (cookies included), with helpers for common actions."""

    def __init__(self, api_url: str, session: requests.Session | None = None) -> None:
        self.api_url = api_url
        self.session = session or requests.Session()
        self.session.trust_env = False  # never send 127.0.0.1 traffic through a proxy
        self.name = ""

    # -- login ---------------------------------------------------------------------------------

    @classmethod
    def login(cls, api: str, user: str, password: str) -> WikiUser:
        """Log in through the API (``action=login``, falling back to ``action=clientlogin``).

        ``user`` may be a bot password name (``SyncBot@collab``). Raises :class:`WikiApiError`.
        """
        wiki = cls(api)
        result = wiki.api(action="login", lgname=user, lgpassword=password, lgtoken=wiki.token("login"))
        if result.get("login", {}).get("result") != "Success":
            result = wiki.api(
                action="clientlogin",
                username=user,
                password=password,
                loginreturnurl=api.rsplit("/", 1)[0] + "/",
                logintoken=wiki.token("login"),
            )
            if result.get("clientlogin", {}).get("status") != "PASS":
                raise WikiApiError("loginfailed", f"{user}: {result}", result)
        info = wiki.userinfo()
        if info.get("anon"):
            raise WikiApiError("loginfailed", f"{user}: still anonymous after login", info)
        wiki.name = str(info["name"])
        return wiki

    def userinfo(self) -> Json:
        """``meta=userinfo`` with groups, rights and block info."""
        result = self.call(action="query", meta="userinfo", uiprop=["groups", "rights", "blockinfo"])
        info: Json = result["query"]["userinfo"]
        return info

    def cookie_header(self) -> str:
        """The raw ``Cookie:`` header value a browser would send to this wiki."""
        prepared = self.session.prepare_request(requests.Request("GET", self.api_url))
        return str(prepared.headers.get("Cookie", ""))

    # -- raw API -------------------------------------------------------------------------------

    def api(self, **params: object) -> Json:
        """Call ``api.php`` and return the decoded JSON (errors included, not raised).

        Uses POST when a ``token`` (or ``lgtoken``/``logintoken``) is sent, GET otherwise.
        """
        data = {"format": "json", "formatversion": "2"}
        for name, value in params.items():
            encoded = _encode(value)
            if encoded is not None:
                data[name] = encoded
        if {"token", "lgtoken", "logintoken"} & data.keys():
            response = self.session.post(self.api_url, data=data, timeout=60)
        else:
            response = self.session.get(self.api_url, params=data, timeout=60)
        response.raise_for_status()
        result: Json = response.json()
        return result

    def call(self, **params: object) -> Json:
        """Like :meth:`api`, but raise :class:`WikiApiError` if the API reports an error."""
        result = self.api(**params)
        error = result.get("error")
        if error:
            raise WikiApiError(str(error.get("code", "unknown")), str(error.get("info", "")), result)
        return result

    def token(self, kind: str = "csrf") -> str:
        """A fresh token of ``kind`` (``csrf``, ``login``...)."""
        result = self.call(action="query", meta="tokens", type=kind)
        return str(result["query"]["tokens"][f"{kind}token"])

    # -- pages ---------------------------------------------------------------------------------

    def _revisions(self, title: str, props: str) -> Json | None:
        """The page's latest revision with ``rvprop=props``, or None if the page does not exist."""
        result = self.call(action="query", prop="revisions", titles=title, rvprop=props, rvslots="main")
        page: Json = result["query"]["pages"][0]
        if page.get("missing") or page.get("invalid") or not page.get("revisions"):
            return None
        revision: Json = page["revisions"][0]
        return revision

    def read(self, title: str) -> tuple[str, int | None]:
        """The page's text and revision id; ``("", None)`` if it does not exist."""
        revision = self._revisions(title, "ids|content")
        if revision is None:
            return "", None
        return str(revision["slots"]["main"]["content"]), int(revision["revid"])

    def latest_revision(self, title: str) -> Json:
        """``revid``, ``user``, ``comment``, ``tags``, ``content``, ``timestamp`` of the latest revision.

        Raises :class:`WikiApiError` (``missingtitle``) if the page does not exist.
        """
        revision = self._revisions(title, "ids|timestamp|user|comment|tags|content")
        if revision is None:
            raise WikiApiError("missingtitle", title)
        return {
            "revid": int(revision["revid"]),
            "user": revision.get("user"),
            "comment": revision.get("comment", ""),
            "tags": list(revision.get("tags", [])),
            "content": revision["slots"]["main"]["content"],
            "timestamp": revision.get("timestamp"),
        }

    def edit(self, title: str, text: str, summary: str = "", **extra: object) -> int:
        """Save ``text`` on top of the current revision (``baserevid``); return the new revision id.

        A missing page is created (``createonly``). Unchanged text returns the current revision id.
        ``extra`` is passed to the API (e.g. ``tags="collab-sync"``, ``bot=True``). Raises
        :class:`WikiApiError` with MediaWiki's code (``editconflict``, ``protectedpage``...).
        """
        _, base = self.read(title)
        params: dict[str, object] = {"baserevid": base} if base is not None else {"createonly": True}
        result = self.call(
            action="edit", title=title, text=text, summary=summary, token=self.token(), **params, **extra
        )
        edit: Json = result["edit"]
        if edit.get("result") != "Success":
            raise WikiApiError(str(edit.get("result", "failure")), str(edit), result)
        if edit.get("nochange"):
            return int(base) if base is not None else int(self.read(title)[1] or 0)
        return int(edit["newrevid"])

    # -- administration (sysops only) ----------------------------------------------------------

    def _exists(self, title: str) -> bool:
        return self._revisions(title, "ids") is not None

    def protect(self, title: str, level: str = "sysop") -> None:
        """Protect ``title`` (edit+move, or create for a missing page) at ``level``, forever."""
        actions = ["edit", "move"] if self._exists(title) else ["create"]
        protections = "|".join(f"{action}={level}" for action in actions)
        token = self.token()
        self.call(action="protect", title=title, protections=protections, expiry="infinite", token=token)

    def unprotect(self, title: str) -> None:
        """Remove the protection of ``title``."""
        self.protect(title, level="all")

    def block(self, user: str) -> None:
        """Block ``user`` indefinitely."""
        self.call(action="block", user=user, expiry="infinite", reason="test", token=self.token())

    def unblock(self, user: str) -> None:
        """Unblock ``user``."""
        self.call(action="unblock", user=user, reason="test", token=self.token())

    def move(self, title: str, to: str, *, redirect: bool = True) -> None:
        """Move the page ``title`` to ``to`` (leaving a redirect unless ``redirect`` is off)."""
        self.call(action="move", to=to, reason="test", noredirect=not redirect, token=self.token(), **{"from": title})

    def delete(self, title: str) -> None:
        """Delete the page ``title``."""
        self.call(action="delete", title=title, reason="test", token=self.token())
