"""Find topics in a group's archive by words, with SQLite's full-text index (FTS5). Each posted
message is indexed by its subject and what its author wrote (quotes left out, so a topic is
found for what was said in it, not once per quote of it)."""
from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from mailhub.models import Message

MAX_WORDS = 10
_INDEXED = "subject, CASE WHEN new_text != '' THEN new_text ELSE body_text END"  # as index_message does
_WORD = re.compile(r"\w+", re.UNICODE)


def _sqlite(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "sqlite"


def create_index(engine: Engine) -> None:
    """Create the index if missing, filled from the posts already stored."""
    if not _sqlite(engine):
        return
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'message_search'")).first()
        if exists:
            return
        # Contentless (the text is in `messages` already) and without positions (no phrase
        # queries are offered): the index costs each post as little writing as possible.
        conn.execute(text("CREATE VIRTUAL TABLE message_search USING fts5(subject, body, content = '', "
                          "detail = none, tokenize = 'unicode61 remove_diacritics 2')"))
        conn.execute(text(f"INSERT INTO message_search (rowid, subject, body) SELECT id, {_INDEXED} FROM messages "
                          "WHERE state = 'posted'"))


def index_message(session: Session, message: Message) -> None:
    """Called once per message, when it is published (a message is published once: its state
    leaves new or held in the same transaction)."""
    if not _sqlite(session):
        return
    session.execute(text("INSERT INTO message_search (rowid, subject, body) VALUES (:id, :s, :b)"),
                    {"id": message.id, "s": message.subject, "b": message.new_text or message.body_text})


def forget_group(session: Session, group_id: int) -> None:
    """Take a group's posts out of the index before they are deleted: a contentless index is told
    the indexed values, which `messages` still holds."""
    if _sqlite(session):
        session.execute(text(f"INSERT INTO message_search (message_search, rowid, subject, body) "
                             f"SELECT 'delete', id, {_INDEXED} FROM messages "
                             "WHERE group_id = :g AND state = 'posted'"), {"g": group_id})


def words_of(query: str) -> list[str]:
    return _WORD.findall(query.lower())[:MAX_WORDS]


def match_expression(words: list[str]) -> str:
    """Every word must appear; each is quoted, so FTS5 syntax typed by a person is just text."""
    return " ".join(f'"{w}"' for w in words)


def search_topics(session: Session, group_id: int, query: str, limit: int = 10) -> list[tuple[int, int]]:
    """(topic id, matching messages) for the best-matching live topics, best first."""
    words = words_of(query)
    if not words:
        return []
    if not _sqlite(session):  # no FTS5: every word somewhere in the subject or text
        hits = select(Message.topic_id, func.count()).where(Message.group_id == group_id,
                                                            Message.state == "posted")
        for w in words:
            hits = hits.where(col(Message.subject).ilike(f"%{w}%") | col(Message.new_text).ilike(f"%{w}%"))
        rows = session.exec(hits.group_by(Message.topic_id).order_by(func.count().desc()).limit(limit)).all()
        return [(t, n) for t, n in rows if t is not None]
    rows = session.execute(text(
        "SELECT m.topic_id, count(*) AS n, min(s.rank) AS best FROM message_search s "
        "JOIN messages m ON m.id = s.rowid "
        "WHERE message_search MATCH :q AND m.group_id = :g AND m.state = 'posted' AND m.topic_id IS NOT NULL "
        "GROUP BY m.topic_id ORDER BY best LIMIT :n"),
        {"q": match_expression(words), "g": group_id, "n": limit}).all()
    return [(r[0], r[1]) for r in rows]
