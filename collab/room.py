"""PageRoom: one wiki page's live CRDT document, its awareness and its bookkeeping. No network I/O.

Every change enters through one of the ``apply_*``/``replace_text`` methods with a typed origin; the
room's listeners (persistence first, then relay) see each resulting update exactly once, tagged with
that origin, so side effects are derived from where a change came from (STYLE habit 1).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pycrdt import Assoc, Awareness, Doc, Text, TransactionEvent

from . import textdiff
from .protocol import TEXT_NAME, AwarenessEntry, UpdateInfo, check_state_vector, check_update

# What the page size limit counts for CRDT metadata, in bytes, besides the text: each Yjs client id the
# document holds (its state vector entry and at least one struct: ~13 bytes in the encoded state, measured)
# and each range of its delete set (a deleted run stays an item for ever). Without them, text-free updates
# (one GC struct per fresh client id, deletions of single characters) grow the state with no text to count.
CLIENT_METADATA_BYTES: Final = 16
DELETE_RANGE_METADATA_BYTES: Final = 16
# Awareness client ids one connection may introduce on a page (a browser announces one: its Y.Doc's; a few
# more allow for a new Y.Doc). Each is freed when the connection leaves the page.
MAX_AWARENESS_IDS: Final = 4


@dataclass(frozen=True)
class ClientOrigin:
    """A change sent by an editor's connection."""

    sid: str
    user: str


@dataclass(frozen=True)
class WikiOrigin:
    """A change that brings the document to what the wiki holds (seed, read-back, outside edit)."""

    revid: int | None
    user: str | None = None


@dataclass(frozen=True)
class ServerOrigin:
    """A change the server makes on an editor's behalf (e.g. expanding their signature)."""

    reason: str
    user: str | None = None


@dataclass(frozen=True)
class PeerOrigin:
    """A change another cluster node made and logged: applied here only to fan it out to this node's editors
    (never logged again, never relayed back). ``user`` is set when an editor typed it on that node."""

    node: str
    user: str | None = None


Origin = ClientOrigin | WikiOrigin | ServerOrigin | PeerOrigin
UpdateListener = Callable[[bytes, Origin], None]


@dataclass
class Base:
    """The wiki revision the document was last reconciled with: the common ancestor of any merge."""

    revid: int | None
    text: str
    # A CRDT state the live document grew from (a fork of it merges back without duplicates); its text is
    # ``text``, plus the session's own changes when an outside merge kept some (merge.merge_outside).
    state: bytes
    timestamp: str | None = None


EMPTY_UPDATE = b"\x00\x00"  # what a transaction that changed nothing encodes to


def seed_client_id(title: str, revid: int | None, text: str) -> int:
    """A deterministic Yjs client id for the seed of (title, revision, text).

    Two rooms seeding the same revision produce byte-identical updates, so they merge without duplicating
    text; different content gives (with overwhelming probability) a different id, never a clash.
    """
    digest = hashlib.sha256(f"{title}\0{revid}\0{text}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1


def seed_update(title: str, revid: int | None, text: str) -> bytes:
    """The CRDT update that creates ``text`` from nothing, deterministically (see seed_client_id)."""
    doc: Doc[Any] = Doc(client_id=seed_client_id(title, revid, text))
    ytext = doc.get(TEXT_NAME, type=Text)
    if text:
        ytext.insert(0, text)
    return doc.get_update()


def fork(state: bytes) -> tuple[Doc[Any], Text]:
    """A private document holding ``state`` (random client id), for three-way merges."""
    doc: Doc[Any] = Doc()
    ytext = doc.get(TEXT_NAME, type=Text)
    doc.apply_update(state)
    return doc, ytext


@dataclass
class Contributions:
    """Who changed the text since the last save, and when the oldest unsaved change was made."""

    authors: dict[str, None] = field(default_factory=dict)  # ordered set
    changes: int = 0
    first_change_at: float | None = None
    last_change_at: float | None = None

    def record(self, user: str) -> None:
        now = time.monotonic()
        self.authors.setdefault(user, None)
        self.changes += 1
        self.last_change_at = now
        if self.first_change_at is None:
            self.first_change_at = now


class PageRoom:
    """The live document of one page. All methods are synchronous and run on the event loop."""

    def __init__(self, title: str, base: Base, state: bytes | None = None) -> None:
        self.title = title
        self.base = base
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get(TEXT_NAME, type=Text)
        self.awareness = Awareness(self.doc)
        self.awareness.set_local_state(None)
        self.contributions = Contributions()
        # Yjs client id -> the user it belongs to on this page: the user whose connection first wrote with
        # it or announced it in its awareness (see claim). Who typed each character, asked only at save time
        # (whose ``~~~~`` is it) instead of tracking positions on every change; and who may write with it.
        self.typists: dict[int, str] = {}
        self.listeners: list[UpdateListener] = []
        self.awareness_ids: dict[str, set[int]] = {}  # sid -> awareness client ids it introduced
        self.awareness_holders: dict[int, tuple[str, str]] = {}  # awareness client id -> (sid, user)
        self._origin: Origin | None = None
        self._clocks: dict[int, int] | None = None  # the state vector, parsed (known_clock)
        self._size_bound: int | None = None  # >= the text's UTF-8 size (size_bound)
        self.doc.apply_update(state if state is not None else base.state)
        # Ranges of the delete set, counted at load, then moved forward by each editor's update (an upper
        # bound: ranges merge); other changes are trusted and counted at the next exact check (weight_after).
        self.delete_ranges = count_delete_ranges(self.doc)
        self.server_client: int = self.doc.client_id  # this room's own edits (signatures): no editor's
        # Subscribe only after loading, in the same synchronous block (no event can slip in between).
        # One transaction observer and no Y.Text observer: building a TextEvent's delta cost more than
        # applying the update itself (bench/, docs/performance.md).
        self.doc.observe(self._on_transaction)

    # ---- reading -------------------------------------------------------------------------------
    def current_text(self) -> str:
        return str(self.text)

    def state_vector(self) -> bytes:
        return self.doc.get_state()

    def update_since(self, state_vector: bytes) -> bytes:
        return self.doc.get_update(state_vector)

    def full_state(self) -> bytes:
        return self.doc.get_update()

    def typist_at(self, byte_index: int) -> str | None:
        """Who typed the character at ``byte_index`` (UTF-8) in this session; None if nobody here did
        (it came from the wiki, or from before a restart)."""
        item = self.text.sticky_index(byte_index, Assoc.AFTER).to_json().get("item")
        return self.typists.get(item["client"]) if item else None

    def known_clock(self, client: int) -> int:
        """How many structs of ``client`` the document holds (its entry in our state vector)."""
        clocks = self._clocks
        if clocks is None:
            clocks = self._clocks = check_state_vector(self.doc.get_state())
        return clocks.get(client, 0)

    def size_bound(self) -> int:
        """An upper bound of the text's size in UTF-8 bytes, exact after any change but an editor's (cheap:
        measuring the text opens a transaction)."""
        if self._size_bound is None:
            self._size_bound = len(self.text)
        return self._size_bound

    def text_bytes(self) -> int:
        """The text's exact size in UTF-8 bytes."""
        self._size_bound = len(self.text)
        return self._size_bound

    def lacks(self, info: UpdateInfo) -> bool:
        """Whether a validated update depends on structs this document does not hold: it starts after a gap
        in a client's clock, sits next to (or skips over) an item we do not have, or deletes one. Yrs would
        integrate around what Yjs holds pending (divergence), and keeps a delete of missing items pending in
        memory for ever; the caller asks the client for the history instead."""
        known = self.known_clock
        if any(start > known(client) for client, start in info.starts.items()) or any(
            clock >= known(client) for client, clock in info.refs.items()
        ):
            return True
        ends = info.ends
        return any(end > known(client) and end > ends.get(client, 0) for client, end in info.deletes.items())

    def new_clients(self, info: UpdateInfo) -> int:
        """How many Yjs client ids a validated update writes with that the document does not hold yet."""
        known = self.known_clock
        return sum(1 for client in info.ends if not known(client))

    def metadata_bytes(self, new_clients: int = 0, delete_ranges: int = 0) -> int:
        """What the CRDT metadata counts in the page size limit, with ``new_clients`` and ``delete_ranges``
        more (cheap: the clients counted exactly, the delete ranges by an upper bound; see
        CLIENT_METADATA_BYTES)."""
        clocks = self._clocks
        if clocks is None:
            clocks = self._clocks = check_state_vector(self.doc.get_state())
        clients, ranges = len(clocks) + new_clients, self.delete_ranges + delete_ranges
        return clients * CLIENT_METADATA_BYTES + ranges * DELETE_RANGE_METADATA_BYTES

    def foreign_client(self, info: UpdateInfo, user: str) -> int | None:
        """A Yjs client id that a validated update writes new structs with but that is not ``user``'s: it
        belongs to another user on this page, or to the room's own edits. None when every client it writes
        with is the user's or nobody's yet.

        A browser keeps its Y.Doc (and client id) across reconnects, so an id belongs to a *user*, not to one
        connection. Structs the room already holds do not count: a step 2 may carry other editors' items
        the client received meanwhile. An id seen before a restart or reload (ownership is not logged) is
        nobody's until its first writer claims it again (docs/protocol.md, *Yjs client ids*).
        """
        typists = self.typists
        for client, end in info.ends.items():
            owner = typists.get(client)
            if owner == user:
                continue  # the common case: one dict lookup per update
            if end > self.known_clock(client) and (owner is not None or client == self.server_client):
                return client
        return None

    def claim(self, client: int, user: str) -> None:
        """``client`` belongs to ``user`` from now on unless it already belongs to someone (an editor's
        awareness announces its Y.Doc's client id before it types: claimed then, nobody who only saw it
        relayed can write with it first)."""
        if client != self.server_client:
            self.typists.setdefault(client, user)

    # ---- changing ------------------------------------------------------------------------------
    def apply_update(self, update: bytes, origin: Origin, clients: Iterable[int] = ()) -> None:
        """Apply a (validated) CRDT update; listeners see the resulting change, if any.

        ``clients``: the Yjs client ids whose structs the update carries; each is credited to the origin's
        user unless another user sent it first (a client cannot take over someone else's id)."""
        user = origin.user if isinstance(origin, ClientOrigin | PeerOrigin) else None
        if user is not None:
            for client in clients:
                self.typists.setdefault(client, user)
        self._origin = origin
        try:
            self.doc.apply_update(update)
        finally:
            self._origin = None

    def apply_client_update(self, update: bytes, info: UpdateInfo, origin: ClientOrigin) -> None:
        """Apply an editor's update that :meth:`lacks` nothing and writes with no :meth:`foreign_client`:
        all of it is integrated, so the cached state vector moves to its ends without parsing the
        document's state vector again. The client ids it writes new structs with become the user's."""
        typists = self.typists
        for client, end in info.ends.items():
            if client not in typists and end > self.known_clock(client):
                typists[client] = origin.user
        clocks, bound = self._clocks, self._size_bound
        self.delete_ranges += info.delete_ranges
        self.apply_update(update, origin)
        if clocks is not None:
            for client, end in info.ends.items():
                if end > clocks.get(client, 0):
                    clocks[client] = end
            self._clocks = clocks
        if bound is not None:
            self._size_bound = bound + len(update)  # an update adds fewer text bytes than it has

    def replace_text(self, new_text: str, origin: Origin) -> bool:
        """Turn the text into ``new_text`` with minimal edits. Returns whether anything changed."""
        old = self.current_text()
        return self.edit_text(old, textdiff.diff(old, new_text), origin)

    def edit_text(self, old: str, edits: list[textdiff.Edit], origin: Origin) -> bool:
        """Apply ``edits`` computed against ``old``, the current text (e.g. by a merge that knows them).
        Returns whether anything changed."""
        if not edits:
            return False
        self._origin = origin
        try:
            with self.doc.transaction(origin=_TAG):
                textdiff.apply_edits(self.text, old, edits)
        finally:
            self._origin = None
        return True

    def splice(self, edits: Sequence[tuple[int, int, str]], origin: Origin) -> None:
        """Replace each ``(start, end)`` UTF-8 byte range of the current text by its string, in one
        transaction: only those characters change, everything else (and everyone's typing) stays.
        ``edits`` are ascending and do not overlap; the caller read their positions from the current text
        with nothing awaited since."""
        if not edits:
            return
        self._origin = origin
        try:
            with self.doc.transaction(origin=_TAG):
                for start, end, insert in reversed(edits):  # from the end: earlier positions stay valid
                    if end > start:
                        del self.text[start:end]
                    if insert:
                        self.text.insert(start, insert)
        finally:
            self._origin = None

    def merge_fork(self, fork_doc: Doc[Any], origin: Origin) -> None:
        """Merge everything a forked document has that this one lacks."""
        self.apply_update(fork_doc.get_update(self.doc.get_state()), origin)

    # ---- awareness -----------------------------------------------------------------------------
    def awareness_refusal(self, entries: Sequence[AwarenessEntry], sid: str, user: str) -> str | None:
        """Why connection ``sid`` of ``user`` may not set these awareness states, or None if it may.

        A client id is the connection's when it introduced it on this page (at most ``MAX_AWARENESS_IDS``),
        or when another connection of the same user holds it (a browser reconnecting with its Y.Doc before
        its old connection is noticed gone: the id moves). Another user's id (announced, or written with:
        ``typists``) and the room's own are refused, unless the entry is an echo that changes nothing.
        """
        mine = self.awareness_ids.get(sid, ())
        fresh: set[int] = set()
        for entry in entries:
            cid = entry.client_id
            if cid in mine:
                continue
            if self._foreign(cid, user):
                if self._stale(entry):
                    continue  # (what Yjs providers that echo every change send back: ignored by all)
                return f"the awareness state of Yjs client id {cid} belongs to another editor: not applied"
            fresh.add(cid)
        if len(mine) + len(fresh) > MAX_AWARENESS_IDS:
            return (
                f"awareness states for {len(mine) + len(fresh)} Yjs client ids from one connection: at most "
                f"{MAX_AWARENESS_IDS} are accepted per page; reload the page if this persists"
            )
        return None

    def _foreign(self, cid: int, user: str) -> bool:
        """Whether awareness client id ``cid`` belongs to someone other than ``user`` here."""
        holder = self.awareness_holders.get(cid)
        owner = holder[1] if holder is not None else self.typists.get(cid)
        return cid == self.server_client or (owner is not None and owner != user)

    def _stale(self, entry: AwarenessEntry) -> bool:
        """Whether the awareness holds a newer clock for the entry's id (or the same one and a state): applying
        the entry would change nothing (y-protocols ordering)."""
        meta = self.awareness.meta.get(entry.client_id)
        if meta is None:
            return False
        clock: int = meta["clock"]
        return entry.clock < clock or (entry.clock == clock and entry.state is not None)

    def apply_awareness(self, update: bytes, entries: Sequence[AwarenessEntry], sid: str, user: str) -> bytes | None:
        """Apply an awareness update that :meth:`awareness_refusal` accepted: its client ids become this
        connection's (announced states also claim the id for ``user``: see :meth:`claim`). Returns what to
        relay: the update without the echoes of others' states it carried (another editor may lack the clock
        that made one stale here, e.g. of a state removed before they joined), None if nothing is left."""
        mine = self.awareness_ids.setdefault(sid, set())
        echoes = False
        for entry in entries:
            cid = entry.client_id
            if cid in mine:
                continue
            if self._foreign(cid, user):
                echoes = True  # a stale echo of another editor's state (awareness_refusal): changes nothing
                continue
            holder = self.awareness_holders.get(cid)
            if holder is not None:
                self.awareness_ids.get(holder[0], set()).discard(cid)  # the same user's new connection
            mine.add(cid)
            self.awareness_holders[cid] = (sid, user)
            if entry.state is not None:
                self.claim(cid, user)  # before anyone else sees the id
        self.awareness.apply_awareness_update(update, sid)
        if not echoes:
            return update
        own = [e.client_id for e in entries if e.client_id in mine]
        return self.awareness.encode_awareness_update(own) if own else None

    def forget_connection(self, sid: str) -> bytes | None:
        """Free everything about the awareness client ids a connection introduced: their states, pycrdt's
        per-id clock (kept for ever otherwise), the claims of ids never written with. Returns the update
        telling the others that the states are gone, if any were present."""
        ids = self.awareness_ids.pop(sid, set())
        present = [cid for cid in ids if cid in self.awareness.states]
        removal = None
        if present:
            self.awareness.remove_awareness_states(present, origin=sid)
            removal = self.awareness.encode_awareness_update(present)  # (before the clocks go)
        meta = self.awareness.meta
        for cid in ids:
            self.awareness_holders.pop(cid, None)
            meta.pop(cid, None)
            if not self.known_clock(cid):
                self.typists.pop(cid, None)  # claimed by awareness only: nothing of it to sign or protect
        return removal

    def awareness_snapshot(self) -> bytes | None:
        ids = list(self.awareness.states)
        return self.awareness.encode_awareness_update(ids) if ids else None

    # ---- observers -----------------------------------------------------------------------------
    def _on_transaction(self, event: TransactionEvent) -> None:
        origin = self._origin
        if origin is None:  # pragma: no cover - every change goes through a method above
            origin = ServerOrigin("unknown")
        update: bytes = event.update
        if update == EMPTY_UPDATE:
            return  # nothing new (e.g. a resent update): nothing to log, relay or credit
        self._clocks = self._size_bound = None  # apply_client_update puts them back, moved forward
        if isinstance(origin, ClientOrigin | PeerOrigin) and origin.user is not None:
            self.contributions.record(origin.user)  # an editor's change, here or on another node
        for listener in self.listeners:
            listener(update, origin)


_TAG = "collab-server"


def count_delete_ranges(doc: Doc[Any]) -> int:
    """The ranges of a document's delete set (an update against its own state vector holds only that)."""
    return check_update(doc.get_update(doc.get_state())).delete_ranges


def weight_after(state: bytes, update: bytes) -> tuple[int, int]:
    """The UTF-8 size of the page text and its metadata weight (as :meth:`PageRoom.metadata_bytes` counts
    them, exactly) after applying ``update`` to a copy of ``state`` (not to the room)."""
    doc, text = fork(state)
    doc.apply_update(update)
    clients = len(check_state_vector(doc.get_state()))
    metadata = clients * CLIENT_METADATA_BYTES + count_delete_ranges(doc) * DELETE_RANGE_METADATA_BYTES
    return len(text), metadata  # pycrdt measures text in UTF-8 bytes
