"""What each y-protocol message of a connection does on the page it joined.

Sync step 1 is answered with what the client lacks; an update (or step 2) is validated completely
(``protocol.check_update``; one that lists a client twice is refused and asked for again), dropped for a
read-only editor, refused when it writes with a Yjs client id that belongs to another editor of the page
(``room.foreign_client``), refused with a resync request when it starts after a gap or sits next to an item
the server lacks, checked against the page size limit, then applied with the connection's typed origin;
awareness is relayed (the client ids it announces become the user's); a query is answered with every
awareness state.
Large answers (step 2, awareness states) count against the rate limit in proportion to their size.
Rate limits and bad input cost the connection: a throttled run is asked for again, strikes and floods end
in a disconnect (``limits.py`` decides, this applies).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from . import protocol as p
from .errors import DuplicateClient, ProtocolError, StoreUnavailable, TooManyClients
from .relay import NOT_STORED
from .room import ClientOrigin, PageRoom, weight_after

if TYPE_CHECKING:
    from .session import Connection, Joined, Sessions

log = logging.getLogger(__name__)

MAX_STRIKES = 25


async def receive(sessions: Sessions, sid: str, title: Any, msg: Any) -> None:
    """One y-protocol message (sync step 1/2, update, awareness, query) from a connection."""
    conn = sessions.connections.get(sid)
    if conn is None:
        return
    if isinstance(msg, bytes | bytearray) and len(msg) > sessions.limits.max_message_bytes:
        await _too_large(sessions, conn, title if isinstance(title, str) else "", len(msg))
        return
    user_key = conn.identity.user_key if conn.identity is not None else None
    if conn.budget is not None and (verdict := sessions.limiter.message(conn.budget, user_key)):
        await _throttled(sessions, conn, title if isinstance(title, str) else "", verdict, msg)
        return
    if not isinstance(title, str) or title not in conn.pages:
        await strike(sessions, conn, title if isinstance(title, str) else "", "notjoined", "join the page first")
        return
    room = sessions.registry.rooms.get(title)
    if room is None:
        await strike(sessions, conn, title, "notjoined", "the page is not open; join again")
        return
    joined = conn.pages[title]
    joined.last_active = time.time()
    try:
        message = p.parse_message(msg)
        if joined.resync:
            # The first message after a throttled run: ask the client for everything we lack. Its
            # step-2 answer carries this change too, and whatever the rate limit dropped before it.
            joined.resync = False
            await sessions.send_y(sid, title, p.sync_step1(room.state_vector()))
            if joined.resend_state and message.kind != "step1":
                await _answer(sessions, conn, title, p.sync_step2(room.full_state()))
            joined.resend_state = False
            if message.kind in ("step2", "update"):
                return
        await _handle(sessions, conn, joined, room, message)
    except ProtocolError as exc:
        await strike(sessions, conn, title, exc.code, exc.message)
    except Exception as exc:  # Yrs raises plain exceptions for bytes it cannot decode
        log.info("dropped a message from sid=%s on %r: %s: %s", sid, title, type(exc).__name__, exc)
        await strike(sessions, conn, title, "badmessage", f"the message could not be applied: {type(exc).__name__}")


async def _handle(sessions: Sessions, conn: Connection, joined: Joined, room: PageRoom, message: p.Message) -> None:
    kind = message.kind
    if kind == "step1":
        p.check_state_vector(message.payload)
        try:
            await sessions.registry.store.durable()  # the answer may hold updates still being logged (cluster)
        except StoreUnavailable:
            await _not_stored(sessions, conn, room)  # (answered when the log stores writes again)
            return
        await _answer(sessions, conn, room.title, p.sync_step2(room.update_since(message.payload)))
    elif kind in ("step2", "update"):
        try:
            info = p.check_update(message.payload, sessions.limits.max_clients_per_update)
        except DuplicateClient:
            await sessions.send_y(conn.sid, room.title, p.sync_step1(room.state_vector()))  # ask for it again
            raise
        except TooManyClients:
            sessions.rejected("client_ids", room.title, conn.user)
            raise
        if joined.readonly:
            if info.has_structs or info.has_deletes:  # (an empty step 2 answers our step 1 on every join)
                sessions.rejected("readonly_update", room.title, conn.user)
                await sessions.status(conn.sid, room.title, "readonly", f"your change was not applied: {joined.reason}")
            return
        if (client := room.foreign_client(info, conn.user)) is not None:
            # Applied, it would take the owner's next clocks: their later keystrokes would be dropped as
            # already held, and tildes typed with it would be signed as them.
            raise ProtocolError(
                f"your change was not applied: it is written with Yjs client id {client}, which another "
                "editor uses on this page; reload the page if this persists"
            )
        if not sessions.registry.store.accepting_writes():
            await _not_stored(sessions, conn, room)  # kept by the client; asked for again (relay.not_stored)
            return
        if room.lacks(info):
            await sessions.send_y(conn.sid, room.title, p.sync_step1(room.state_vector()))  # ask for the history
            raise ProtocolError("update depends on changes the server has not seen; resyncing")
        new_clients = room.new_clients(info)
        if new_clients:  # (a browser: once per page)
            _check_new_clients(sessions, conn, room, new_clients)
        if not await _fits(sessions, conn, room, message.payload, new_clients, info.delete_ranges):
            return
        conn.new_clients += new_clients
        origin = conn.origin
        if origin is None or origin.user != conn.user:
            origin = conn.origin = ClientOrigin(conn.sid, conn.user)
        room.apply_client_update(message.payload, info, origin)
    elif kind == "awareness":  # (read-only editors too: their name and cursor, within the same bounds)
        try:
            entries = p.check_awareness(message.payload, p.MAX_AWARENESS_ENTRIES)
        except ProtocolError:
            sessions.rejected("awareness", room.title, conn.user)
            raise
        if (refusal := room.awareness_refusal(entries, conn.sid, conn.user)) is not None:
            sessions.rejected("awareness", room.title, conn.user)
            raise ProtocolError(refusal)
        relayed = room.apply_awareness(message.payload, entries, conn.sid, conn.user)
        if relayed is not None:
            sessions.relay.broadcast(room.title, p.awareness_message(relayed), skip_sid=conn.sid)
    elif kind == "query":
        snapshot = room.awareness_snapshot()
        if snapshot is not None:
            await _answer(sessions, conn, room.title, p.awareness_message(snapshot))


async def _answer(sessions: Sessions, conn: Connection, title: str, message: bytes) -> None:
    """Send the answer to a request, charged to the connection's rate limit in proportion to its size."""
    if conn.budget is not None:
        user_key = conn.identity.user_key if conn.identity is not None else None
        sessions.limiter.answer(conn.budget, user_key, len(message))
    await sessions.send_y(conn.sid, title, message)


async def _not_stored(sessions: Sessions, conn: Connection, room: PageRoom) -> None:
    """The log refuses writes: the connection's message is not applied; the relay resynchronises the page once
    the log stores again (the connection is told once)."""
    sessions.rejected("not_stored", room.title, conn.user)
    if sessions.relay.not_stored(room.title, conn.sid):
        await sessions.status(conn.sid, room.title, "error", NOT_STORED, code="notstored")


def _check_new_clients(sessions: Sessions, conn: Connection, room: PageRoom, new_clients: int) -> None:
    """Refuse an update whose Yjs client ids new to the page take the connection over its allowance.

    Raises:
        TooManyClients: over ``--max-new-clients-per-connection``.
    """
    allowed = sessions.limits.max_new_clients_per_connection
    if allowed and conn.new_clients + new_clients > allowed:
        sessions.rejected("client_ids", room.title, conn.user)
        raise TooManyClients(
            f"your change was not applied: it brings {new_clients} new Yjs client ids, and this connection may "
            f"bring at most {allowed}; reload the page if this persists"
        )


async def _fits(
    sessions: Sessions, conn: Connection, room: PageRoom, update: bytes, new_clients: int, delete_ranges: int
) -> bool:
    """Whether the page stays within its size limit with ``update`` (which brings ``new_clients`` Yjs client
    ids and ``delete_ranges``): its text plus its CRDT metadata (``room.metadata_bytes``), else the editor
    is told."""
    limit = sessions.limits.document_limit(sessions.wiki.site_info.max_article_bytes)
    # Cheap bound first (the text cannot grow by more than the update's size), exact check near it.
    metadata = room.metadata_bytes(new_clients, delete_ranges)
    if room.size_bound() + metadata + len(update) <= limit or room.text_bytes() + metadata + len(update) <= limit:
        return True
    size, metadata = weight_after(room.full_state(), update)
    if size + metadata <= limit:
        return True
    sessions.rejected("document_too_large", room.title, conn.user)
    if metadata > size:  # (text-free updates: many client ids, scattered deletions)
        message = (
            f"the page would be {size} bytes of text and {metadata} bytes of editing history (Yjs client ids "
            f"and deletions), more than the limit of {limit}: not applied"
        )
    else:
        message = f"the page would be {size + metadata} bytes, more than the limit of {limit}: not applied"
    await sessions.status(conn.sid, room.title, "error", message, code="toolarge")
    return False


async def strike(sessions: Sessions, conn: Connection, title: str, code: str, message: str) -> None:
    conn.strikes += 1
    sessions.observer.rejected(title, conn.user, code)
    await sessions.status(conn.sid, title, "error", message, code=code)
    if conn.strikes >= MAX_STRIKES:
        log.warning("disconnecting sid=%s user=%s after %d bad messages", conn.sid, conn.user, conn.strikes)
        await sessions.wire.disconnect(conn.sid)


async def _too_large(sessions: Sessions, conn: Connection, title: str, size: int) -> None:
    """Say why, then disconnect: a server-side disconnect is one Socket.IO clients do not retry, so
    the client does not reconnect and resend the same message forever."""
    limit = sessions.limits.max_message_bytes
    sessions.rejected("message_too_large", title, conn.user)
    log.warning("disconnecting sid=%s user=%s: a message of %d bytes (limit %d)", conn.sid, conn.user, size, limit)
    message = (
        f"a message of {size} bytes is larger than this server accepts ({limit} bytes): "
        "disconnected; reload the page to continue"
    )
    await sessions.status(conn.sid, title, "error", message, code="toolarge")
    await sessions.wire.disconnect(conn.sid, close_tcp=True)


async def _throttled(sessions: Sessions, conn: Connection, title: str, reason: str, msg: object) -> None:
    sessions.rejected(reason, title, conn.user)
    joined = conn.pages.get(title)
    if joined is not None:
        joined.resync = True
        if isinstance(msg, bytes | bytearray) and msg[:2] == b"\x00\x00":
            joined.resend_state = True  # its sync step 1 was dropped: it still lacks our state
    assert conn.budget is not None
    drop = sessions.limiter.drop(conn.budget)
    if drop == "first":
        who = "this connection sends" if reason == "rate_connection" else "your connections send"
        message = f"{who} too many messages: slow down (dropped changes are asked for again)"
        await sessions.status(conn.sid, title, "error", message, code="ratelimited")
    elif drop == "flood":
        sessions.rejected("flood", title, conn.user)
        penalty = sessions.limiter.penalise(conn.identity.join_key) if conn.identity is not None else 0.0
        log.warning("disconnecting sid=%s user=%s ip=%s: flooding (%d messages dropped); no bursts for %.0f s",
                    conn.sid, conn.user, conn.ip, conn.budget.dropped_total, penalty)  # fmt: skip
        await sessions.status(conn.sid, title, "error", "disconnected: far too many messages", code="ratelimited")
        await sessions.wire.disconnect(conn.sid, close_tcp=True)
