"""The save cycle and what follows it: one save of a page to the wiki, its read-back, the settling of a save
whose outcome is unknown, and revisions saved outside the session.

The save window is crash-safe: what is about to be sent is recorded durably first (a
:class:`~collab.lease.SaveIntent`, through the lease: SQLite on one node, Redis in a cluster) and forgotten only
once the saved revision is the page's base. A save whose outcome is unknown (the process died, the wiki did not
answer, the read-back failed) is settled by :func:`resolve_intent` before anything else touches the page: the
bot's revision is found in the wiki's history and adopted once, never merged back in as someone else's edit.
Credits are split at the moment the text is sent: who typed before is credited by that save, who types from
then on by the next one (also when they typed before too).

Functions of the commit policy (``commit.CommitManager``, which decides when to save and holds each page's
bookkeeping), kept apart so that each module shows one concern.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import merge, wikitext
from .errors import EditConflict, SaveRefused, WikiError, WikiUnavailable
from .lease import SaveIntent
from .room import Contributions, PageRoom
from .store import RevisionRecord
from .wiki import Revision

if TYPE_CHECKING:
    from .commit import CommitManager, PageCommit

log = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 5
LANDED_SEARCH = 20  # revisions after an intent's base searched for the save it describes


async def save_cycle(commits: CommitManager, room: PageRoom, state: PageCommit) -> int | None:
    if not commits.closing:
        await commits.editors.recheck(room.title, writers_only=True)  # a user blocked since the last re-check
    await resolve_intent(commits, room, saving=True)  # a save of ours with an unknown outcome: settle it first
    await commits.signer.expand(room)
    for _attempt in range(MAX_CONFLICT_RETRIES):
        text = room.current_text()
        if text == room.base.text:
            state.request = None
            room.contributions = Contributions()
            commits._persist_authors(room)
            return None
        limit = commits.wiki.site_info.max_article_bytes
        if len(text.encode()) > limit:
            message = f"the text ({len(text.encode())} bytes) is larger than the wiki's limit of {limit} bytes"
            raise SaveRefused(message, code="contenttoobig")
        authors = list(room.contributions.authors)
        request = state.request
        words, saver = (request.options.summary, request.user) if request is not None else ("", None)
        sections = [] if words else wikitext.sections_touched(room.base.text, text)
        summary = wikitext.summary(
            authors, sections, limit=commits.wiki.site_info.max_summary_chars, words=words, saver=saver
        )
        # Minor only on the word of everyone whose text it carries: the one who ticked it typed it all.
        minor = request is not None and request.options.minor and set(authors) <= {request.user}
        intent = SaveIntent(room.full_state(), text, room.base.revid, authors, summary)
        commits._announce(room.title, "saving", "saving to the wiki")
        if not await commits.lease.confirm(room.title, intent):
            return None  # cluster: this node lost the page's commit lease; the new holder saves
        # From here on, whoever types is credited by the next save, also if they are credited by this one.
        sent = _split_credits(commits, room)
        try:
            revid = await commits.wiki.save(
                room.title, text, baserevid=intent.baserevid, summary=summary, tag=commits.change_tag, minor=minor
            )
        except EditConflict:
            await _not_landed(commits, room, sent)
            state.conflicts += 1
            commits.observer.conflict(room.title)
            if room.base.revid is not None and await commits.wiki.revision_title(room.base.revid) not in (
                room.title,
                None,
            ):
                # Moved on the wiki during the save: the old title's latest revision is the redirect, never to
                # be merged. Retry once the watcher has moved the session to the new title (moves.py).
                raise WikiUnavailable("the page was moved on the wiki; saving again under its new title") from None
            latest = await commits.wiki.read(room.title)
            if latest is None:
                raise SaveRefused("the page has been deleted", code="missingtitle") from None
            await merge_outside(commits, room, latest)
            continue
        except WikiUnavailable:
            raise  # it may have landed: the intent stays, and resolve_intent settles it before the retry
        except WikiError:
            await _not_landed(commits, room, sent)
            raise
        saved = await _read_back(commits, room.title, revid)
        if saved is None:
            await _not_landed(commits, room, sent)
            raise SaveRefused("the page has been deleted", code="missingtitle")
        if state.request is request:
            state.request = None  # said once; a later Save or timer speaks for itself
        await landed(commits, room, intent, saved, record=revid is not None)
        return revid
    raise SaveRefused("the page keeps changing on the wiki; will try again", code="editconflict")


async def _read_back(commits: CommitManager, title: str, revid: int | None) -> Revision | None:
    """The revision the wiki just stored (the latest for a save that changed nothing).

    Raises:
        WikiUnavailable: whatever went wrong: the save landed and its intent stays; the retry adopts it.
    """
    try:
        return await (commits.wiki.read_revision(title, revid) if revid else commits.wiki.read(title))
    except WikiError as exc:
        saved = f"saved revision {revid}" if revid else "saved"
        message = f"the wiki {saved}, but reading it back failed ({exc.code}: {exc.message})"
        raise WikiUnavailable(message, code="wikiunavailable") from exc


def _split_credits(commits: CommitManager, room: PageRoom) -> Contributions:
    """The text is being sent: its contributions go with it; the next save counts from now on (stored:
    the intent holds the sent ones)."""
    sent, room.contributions = room.contributions, Contributions()
    commits._persist_authors(room)
    return sent


def _credit_again(commits: CommitManager, room: PageRoom, authors: list[str], changes: int = 1) -> None:
    """A save that did not land: its authors are credited by the next one, with whoever typed since."""
    merged = Contributions()
    for name in [*authors, *room.contributions.authors]:
        merged.authors.setdefault(name, None)
    merged.changes = room.contributions.changes + changes
    merged.first_change_at = room.contributions.first_change_at
    merged.last_change_at = room.contributions.last_change_at
    room.contributions = merged
    commits._persist_authors(room)


async def _not_landed(commits: CommitManager, room: PageRoom, sent: Contributions) -> None:
    """The wiki refused the save: it did not land; credit its authors again and forget its intent."""
    _credit_again(commits, room, list(sent.authors), max(1, sent.changes))
    await commits.lease.drop_intent(room.title)


# ---- settling a save whose outcome is unknown ----------------------------------------------
async def resolve_intent(commits: CommitManager, room: PageRoom, *, saving: bool = False) -> None:
    """Settle the page's recorded save, if one is pending (the process died during it, the wiki did not
    answer, or its read-back failed): if the wiki holds it, adopt it once; else forget it and credit its
    authors in the next save. Never merges the bot's own revision as an outside edit.

    ``saving``: called by the save cycle itself; any other caller leaves a save in flight alone (its intent
    is that save's, which settles it).

    Raises:
        WikiUnavailable: the wiki's history cannot be read (the intent stays; the caller retries).
    """
    state = commits.page(room.title)
    async with state.settling:
        if not saving and state.in_flight is not None and not state.in_flight.done():
            return
        intent = await commits.lease.intent(room.title)
        if intent is None:
            return
        try:
            saved = await find_landed(commits, room.title, intent)
        except WikiError as exc:  # whatever it is, a later look may succeed: retried, never a pause
            message = f"cannot look for the last save in the wiki's history ({exc.code}: {exc.message})"
            raise WikiUnavailable(message, code="wikiunavailable") from exc
        if commits.registry.rooms.get(room.title) is not room:
            return  # unloaded meanwhile: the next load settles it
        if saved is not None:
            await landed(commits, room, intent, saved, record=True)
            log.info(
                "adopted revision %d of %r by %s, saved before its read-back",
                saved.revid,
                room.title,
                ", ".join(intent.authors) or "-",
            )
            return
        log.info("the save of %r on top of revision %s did not land; saving again", room.title, intent.baserevid)
        _credit_again(commits, room, intent.authors)
        await commits.lease.drop_intent(room.title)


async def find_landed(commits: CommitManager, title: str, intent: SaveIntent) -> Revision | None:
    """The revision in which the wiki stored the save ``intent`` describes, if it landed: the first
    revision by the bot after the intent's base whose text is the text sent (as the wiki normalises it)
    or whose summary is the one sent (the wiki merged a concurrent edit into it: texts differ).

    Raises:
        WikiError: the history cannot be read.
    """
    sent = wikitext.as_saved(intent.text)
    for revision in await commits.wiki.revisions_after(title, intent.baserevid, limit=LANDED_SEARCH):
        if revision.user != commits.wiki.bot_name:
            continue
        if wikitext.as_saved(revision.text) == sent or (
            intent.summary and revision.comment.strip() == intent.summary.strip()
        ):
            return revision
    return None


async def landed(commits: CommitManager, room: PageRoom, intent: SaveIntent, saved: Revision, *, record: bool) -> None:
    """Merge what the wiki stored (merged, normalised, expanded) into the live document through a fork of
    the text as sent, make it the new base, forget the intent, and (``record``: a new revision) record
    and announce it."""
    merge.merge_revision(commits.registry, room, intent.state, intent.text, saved)
    await commits.lease.drop_intent(room.title)  # (after the new base is stored: a crash between adopts again)
    commits._persist_authors(room)
    if not record:
        return
    state = commits.page(room.title)
    state.saves += 1
    authors = intent.authors
    summary = saved.comment or intent.summary
    revision = RevisionRecord(saved.revid, saved.timestamp, authors, summary)
    commits.registry.store.add_revision(room.title, revision)
    state.last_saved, state.last_coauthors = saved, tuple(authors)
    log.info("saved %r as revision %d by %s", room.title, saved.revid, ", ".join(authors) or "-")
    message = f"saved as revision {saved.revid}"
    commits._announce(room.title, "saved", message, revid=saved.revid, coauthors=authors)


async def merge_outside(commits: CommitManager, room: PageRoom, latest: Revision) -> None:
    """Three-way merge of an outside revision into the live text (``merge.merge_outside``): what both
    sides changed alike is applied once (the revision may already hold the session's unsaved text)."""
    if latest.revid == room.base.revid:
        return
    merge.merge_outside(commits.registry, room, latest)
    commits.page(room.title).outside_merges += 1
    commits.observer.outside_merged(room.title, latest.revid, latest.user)
    log.info("merged outside revision %d of %r by %s", latest.revid, room.title, latest.user)
    message = f"{latest.user} saved revision {latest.revid} outside this session; merged"
    commits._announce(room.title, "merged", message, revid=latest.revid, user=latest.user)


async def check_outside(commits: CommitManager, room: PageRoom, lastrevid: int | None) -> None:
    """React to the wiki's latest revision id of a page (from polling or the RC feed)."""
    state = commits.page(room.title)
    if state.in_flight is not None and not state.in_flight.done():
        return  # our own save is landing; its read-back handles what the wiki did
    if lastrevid is None:
        if room.base.revid is not None:
            state.last_error = "the page has been deleted on the wiki"
            commits._announce(room.title, "error", state.last_error, code="saveerror")
        return
    if room.base.revid is not None and lastrevid <= room.base.revid:
        return
    if not await commits.lease.acquire(room.title):
        return  # cluster: the node holding the page's commit lease merges it (exactly once)
    if state.in_flight is not None and not state.in_flight.done():
        return
    # A newer revision may be our own save whose read-back never happened: adopt it, never merge it back.
    had_intent = await commits.lease.intent(room.title) is not None
    if had_intent:
        await resolve_intent(commits, room)
        if commits.pending(room):
            commits.changed(room)  # what the intent did not cover (or all of it, if it did not land)
        if state.in_flight is not None and not state.in_flight.done():
            return
    latest = await commits.wiki.read(room.title)
    if latest is not None and (room.base.revid is None or latest.revid > room.base.revid):
        if latest.user == commits.wiki.bot_name:
            # Not one of this page's intents (those were settled above): another server with the same
            # bot account, or a save that landed after its intent was given up. Merged like any edit.
            log.warning("revision %d of %r is the bot's but matches no save intent", latest.revid, room.title)
        await merge_outside(commits, room, latest)
