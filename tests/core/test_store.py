"""core.store: chats, messages, documents and benchmark runs in SQLite, durable across kill -9."""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from core.paths import default_data_dir, default_store_path
from core.store import DEFAULT_TITLE, SCHEMA_VERSION, RowNotFound, Store, StoreError, schema

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]
SHA_A, SHA_B = "a" * 64, "b" * 64


@pytest.fixture
def store(tmp_path):
    """A store on a fake clock that ticks one second per change, so orderings are deterministic."""
    ticks = itertools.count(1_700_000_000.0, 1.0)
    with Store(tmp_path / "ponder.db", clock=lambda: next(ticks)) as s:
        yield s


# --- chats ----------------------------------------------------------------------------------------
def test_chat_crud_and_most_recent_first(store):
    a, b, c = (store.create_chat(title) for title in ("a", "b", "c"))
    assert [ch.title for ch in store.list_chats()] == ["c", "b", "a"]
    store.rename_chat(a.id, "a2")
    store.update_chat_settings(b.id, {"temperature": 0.6, "model": "ponder-tiny"})
    assert [ch.title for ch in store.list_chats()] == ["b", "a2", "c"]
    assert store.get_chat(b.id).settings == {"temperature": 0.6, "model": "ponder-tiny"}
    store.add_message(c.id, "assistant", "hi")
    assert store.list_chats()[0].id == c.id
    store.delete_chat(b.id)
    assert [ch.id for ch in store.list_chats()] == [c.id, a.id]
    with pytest.raises(RowNotFound):
        store.get_chat(b.id)
    with pytest.raises(RowNotFound):
        store.rename_chat(b.id, "x")
    with pytest.raises(ValueError):
        store.rename_chat(a.id, "  ")


def test_every_message_change_touches_the_chat(store):
    chat = store.create_chat()
    msg = store.add_message(chat.id, "assistant", status="streaming")
    stamps = [store.get_chat(chat.id).updated_at]
    for change in (lambda: store.append_to_message(msg.id, answer_delta="x"),
                   lambda: store.update_message(msg.id, content="y"),
                   lambda: store.finish_message(msg.id, "complete"),
                   lambda: store.delete_message(msg.id)):
        change()
        stamps.append(store.get_chat(chat.id).updated_at)
    assert stamps == sorted(set(stamps))


def test_auto_title_from_first_user_message(store):
    chat = store.create_chat()
    store.add_message(chat.id, "system", "You are helpful.")
    store.add_message(chat.id, "user", "   ")
    assert store.get_chat(chat.id).title == DEFAULT_TITLE
    long_line = "Summarise the termination clauses of this lease and compare them with the renewal terms please"
    store.add_message(chat.id, "user", f"\n{long_line}\nsecond line")
    title = store.get_chat(chat.id).title
    assert title.startswith("Summarise the termination clauses") and title.endswith("…") and len(title) <= 60
    store.add_message(chat.id, "user", "Another question")
    assert store.get_chat(chat.id).title == title
    named = store.create_chat("My title")
    store.add_message(named.id, "user", "Question")
    assert store.get_chat(named.id).title == "My title"


def test_search_by_title_or_answer_case_insensitive(store):
    lease, recipe, other = store.create_chat("Lease review"), store.create_chat("Cooking"), store.create_chat("Misc")
    store.add_message(recipe.id, "assistant", "Preheat the OVEN to 200C")
    store.add_message(recipe.id, "assistant", "then the oven again")
    store.add_message(other.id, "assistant", "100% sure")
    assert [c.id for c in store.search_chats("lease")] == [lease.id]
    assert [c.id for c in store.search_chats("oven")] == [recipe.id]
    assert [c.id for c in store.search_chats("0%")] == [other.id]  # % is literal, not a wildcard
    assert store.search_chats("nothing like this") == []
    assert len(store.search_chats("")) == 3


# --- messages -------------------------------------------------------------------------------------
def test_message_crud_in_order(store):
    chat = store.create_chat()
    user = store.add_message(chat.id, "user", "q")
    answer = store.add_message(chat.id, "assistant", status="streaming", model="ponder-tiny")
    for i in range(3):
        store.append_to_message(answer.id, reasoning_delta=f"r{i} ", answer_delta=f"a{i} ")
    store.finish_message(answer.id, "complete", stats={"ttft_ms": 12.5, "tokens": 6})
    got = store.messages(chat.id)
    assert [m.id for m in got] == [user.id, answer.id]
    assert got[1].reasoning == "r0 r1 r2 " and got[1].content == "a0 a1 a2 "
    assert got[1].status == "complete" and got[1].stats == {"ttft_ms": 12.5, "tokens": 6}
    assert got[1].model == "ponder-tiny"
    store.update_message(answer.id, content="edited")
    edited = store.get_message(answer.id)
    assert (edited.content, edited.reasoning, edited.status) == ("edited", "r0 r1 r2 ", "complete")
    store.delete_message(user.id)
    assert [m.id for m in store.messages(chat.id)] == [answer.id]


def test_message_validation_and_missing_rows(store):
    chat = store.create_chat()
    with pytest.raises(ValueError, match="status"):
        store.add_message(chat.id, "assistant", status="done")
    with pytest.raises(ValueError, match="role"):
        store.add_message(chat.id, "robot")
    msg = store.add_message(chat.id, "assistant", status="streaming")
    with pytest.raises(ValueError):
        store.finish_message(msg.id, "streaming")
    with pytest.raises(ValueError):
        store.update_message(msg.id, status="bogus")
    with pytest.raises(TypeError):
        store.add_message(chat.id, "assistant", stats=["not", "a", "dict"])
    with pytest.raises(RowNotFound):
        store.add_message(9999, "user", "x")
    store.delete_chat(chat.id)
    with pytest.raises(RowNotFound):  # the worker learns its chat was deleted mid-stream
        store.append_to_message(msg.id, answer_delta="x")


def test_regenerate_deletes_the_message_and_everything_after(store):
    chat, other = store.create_chat(), store.create_chat()
    ids = [store.add_message(chat.id, role, text).id
           for role, text in [("user", "q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")]]
    keep = store.add_message(other.id, "user", "elsewhere")
    assert store.delete_messages_from(chat.id, ids[1]) == 3
    assert [m.id for m in store.messages(chat.id)] == ids[:1]
    assert [m.id for m in store.messages(other.id)] == [keep.id]
    with pytest.raises(RowNotFound):  # a message of another chat
        store.delete_messages_from(chat.id, keep.id)


def test_delete_chat_cascades_messages_and_document_links(store):
    chat = store.create_chat()
    store.add_message(chat.id, "user", "q")
    doc = store.add_document(SHA_A, "lease.pdf", "application/pdf", 10, {"pages": []})
    store.link_document(chat.id, doc.id)
    store.delete_chat(chat.id)
    assert store.messages(chat.id) == [] and store.chat_documents(chat.id) == []
    assert store.get_document(doc.id).name == "lease.pdf"  # documents outlive chats
    with store._reading() as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM chat_documents").fetchone()[0] == 0


def test_recover_interrupted_keeps_partial_text(store):
    chat = store.create_chat()
    done = store.add_message(chat.id, "assistant", "full")
    partial = store.add_message(chat.id, "assistant", status="streaming")
    store.append_to_message(partial.id, "thinking", "half an ans")
    assert store.recover_interrupted() == 1
    got = store.get_message(partial.id)
    assert (got.status, got.reasoning, got.content) == ("interrupted", "thinking", "half an ans")
    assert store.get_message(done.id).status == "complete"
    assert store.recover_interrupted() == 0


# --- durability and threads -----------------------------------------------------------------------
CHILD = """
import sys
from pathlib import Path
from core.store import Store
store = Store(Path(sys.argv[1]))
msg = store.add_message(store.create_chat().id, "assistant", status="streaming")
print("ready", msg.id, flush=True)
for i in range(10**9):
    store.append_to_message(msg.id, reasoning_delta=f"r{i};", answer_delta=f"a{i};")
    print(i, flush=True)  # only after the commit returned
"""


def test_kill_9_mid_stream_loses_at_most_the_delta_in_flight(tmp_path):
    path = tmp_path / "ponder.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True,
                             cwd=ROOT, env=env)
    try:
        first = child.stdout.readline().split()
        assert first[0] == "ready", first
        message_id = int(first[1])
        while int(child.stdout.readline()) < 300:
            pass
    finally:
        child.send_signal(getattr(signal, "SIGKILL", signal.SIGTERM))  # TerminateProcess on Windows
        rest = child.communicate()[0].split()
    last = int(rest[-1]) if rest else 300  # the last counter the child printed: committed for sure
    assert child.returncode != 0
    with Store(path) as store:
        assert store.recover_interrupted() == 1
        msg = store.get_message(message_id)
    assert msg.status == "interrupted"
    committed = msg.reasoning.count(";")
    assert committed in (last + 1, last + 2)  # all it reported, plus perhaps the one in flight
    assert msg.reasoning == "".join(f"r{i};" for i in range(committed))
    assert msg.content == "".join(f"a{i};" for i in range(committed))


def test_gui_reads_while_worker_appends(tmp_path):
    store = Store(tmp_path / "ponder.db", busy_timeout_ms=5000)
    chat = store.create_chat()
    msg = store.add_message(chat.id, "assistant", status="streaming")
    errors: list[BaseException] = []
    reads_seen = [0]  # the reader's count, so the writer can wait for it to interleave on a loaded machine

    def worker() -> None:
        try:
            for i in range(400):
                store.append_to_message(msg.id, answer_delta=f"{i},")
                deadline = time.monotonic() + 10
                while i == 200 and reads_seen[0] < 3 and time.monotonic() < deadline:
                    time.sleep(0.001)
            store.finish_message(msg.id, "complete")
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    seen, reads = 0, 0
    while thread.is_alive() or reads == 0:
        content = store.messages(chat.id)[0].content
        assert len(content) >= seen  # readers see a growing prefix, never a torn write
        seen = len(content)
        store.list_chats()
        store.search_chats("1")
        if reads % 10 == 0:
            store.rename_chat(chat.id, f"renamed {reads}")  # the GUI thread writes too
        reads += 1
        reads_seen[0] = reads
    thread.join()
    assert not errors, errors
    final = store.get_message(msg.id)
    assert final.status == "complete" and final.content == "".join(f"{i}," for i in range(400))
    assert reads > 1
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_chats()


# --- documents and benchmark runs -----------------------------------------------------------------
def test_documents_dedupe_by_hash_and_round_trip_compressed(store):
    parsed = {"pages": [{"number": n, "text": "The tenant shall pay rent monthly. " * 200} for n in range(1, 6)],
              "sections": [{"title": "§1 Rent", "page": 1}]}
    doc = store.add_document(SHA_A, "lease.pdf", "application/pdf", 123_456, parsed)
    again = store.add_document(SHA_A.upper(), "copy of lease.pdf", "application/pdf", 123_456, {"pages": []})
    assert again.id == doc.id and again.name == "lease.pdf" and again.parsed == parsed
    assert store.get_document(doc.id) == doc
    with store._reading() as conn:
        blob = conn.execute("SELECT parsed_zlib FROM documents WHERE id = ?", (doc.id,)).fetchone()[0]
    assert len(blob) < len(str(parsed)) / 10 and zlib.decompress(blob)
    other = store.add_document(SHA_B, "notes.md", "text/markdown", 5, {"pages": [{"text": "hi"}]})
    chat = store.create_chat()
    store.link_document(chat.id, doc.id)
    store.link_document(chat.id, other.id)
    store.link_document(chat.id, doc.id)  # twice: no duplicate
    assert [d.id for d in store.chat_documents(chat.id)] == [doc.id, other.id]
    store.unlink_document(chat.id, doc.id)
    assert [d.id for d in store.chat_documents(chat.id)] == [other.id]
    with pytest.raises(ValueError, match="sha256"):
        store.add_document("not-a-hash", "x", "text/plain", 1, {})
    with pytest.raises(RowNotFound):
        store.link_document(chat.id, 9999)
    with pytest.raises(RowNotFound):
        store.get_document(9999)


def test_bench_runs_round_trip_newest_first(store):
    machine = {"device": "cpu", "cpu": "x86_64", "ram_bytes": 8 << 30}
    r1 = store.add_bench_run("tiny", machine, {"precision": "fp32"}, {"tok_s": 41.5})
    r2 = store.add_bench_run("other", machine, {"precision": "int8"}, {"tok_s": 80.0})
    r3 = store.add_bench_run("tiny", machine, {"precision": "bf16"}, {"tok_s": 60.25, "ttft_ms": [1, 2]})
    assert store.bench_runs() == [r3, r2, r1]
    assert store.bench_runs("tiny") == [r3, r1]
    store.delete_bench_run(r1.id)
    assert store.bench_runs("tiny") == [r3]
    with pytest.raises(RowNotFound):
        store.delete_bench_run(r1.id)
    with pytest.raises(ValueError, match="JSON"):
        store.add_bench_run("tiny", machine, {"precision": object()}, {})


# --- the file: settings, migrations, bad files ----------------------------------------------------
def test_file_settings_and_schema_version(tmp_path):
    path = tmp_path / "sub" / "dir" / "ponder.db"  # folders are created
    with Store(path) as store:
        chat = store.create_chat("kept")
        with store._reading() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert conn.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
        flags: list[tuple] = []
        thread = threading.Thread(target=lambda: flags.append(_thread_pragmas(store)))
        thread.start()
        thread.join()
        assert flags == [(1, 1)]  # a worker thread's own connection: foreign_keys on, synchronous NORMAL
    with Store(path) as store:
        assert store.get_chat(chat.id).title == "kept"


def _thread_pragmas(store: Store) -> tuple:
    with store._reading() as conn:
        return (conn.execute("PRAGMA foreign_keys").fetchone()[0], conn.execute("PRAGMA synchronous").fetchone()[0])


def test_a_later_migration_upgrades_an_existing_file(tmp_path, monkeypatch):
    path = tmp_path / "ponder.db"
    with Store(path) as store:
        chat = store.create_chat("old chat")
    migrations = (*schema.MIGRATIONS, ("CREATE TABLE feedback (id INTEGER PRIMARY KEY, note TEXT)",))
    monkeypatch.setattr(schema, "MIGRATIONS", migrations)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(migrations))
    with Store(path) as store:
        assert store.get_chat(chat.id).title == "old chat"
        with store._reading() as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations)
            conn.execute("INSERT INTO feedback (note) VALUES ('ok')")


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\x01 definitely not SQLite \xff" * 300)


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE bookmarks (url TEXT)")
        conn.execute("INSERT INTO bookmarks VALUES ('https://example.org')")
    conn.close()


def _future(path: Path) -> None:
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()


@pytest.mark.parametrize("make, reason, words", [(_garbage, "damaged", "damaged"),
                                                 (_foreign, "foreign", "not a Ponder chat database"),
                                                 (_future, "newer", "newer version of Ponder")])
def test_bad_files_are_refused_then_moved_aside(tmp_path, make, reason, words):
    path = tmp_path / "ponder.db"
    make(path)
    before = path.read_bytes()
    with pytest.raises(StoreError) as info:
        Store(path)
    assert info.value.reason == reason and words in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before  # refusing a file never writes to it

    store, note = Store.open_or_recover(path)
    with store:
        aside = [p for p in tmp_path.iterdir()
                 if p.name.startswith("ponder.db.") and not p.name.endswith(("-wal", "-shm"))]
        assert len(aside) == 1 and aside[0].read_bytes() == before  # the user's file, untouched
        assert str(aside[0]) in note and words.split()[0] in note
        assert store.list_chats() == []
        store.create_chat("fresh")
    with Store(path) as reopened:
        assert [c.title for c in reopened.list_chats()] == ["fresh"]


def test_damage_inside_the_file_is_found(tmp_path):
    path = tmp_path / "ponder.db"
    with Store(path) as store:
        for i in range(40):
            store.add_message(store.create_chat(f"chat {i}").id, "user", "x" * 3000)
    data = bytearray(path.read_bytes())
    data[4096 * 3: 4096 * 6] = b"\xab" * (4096 * 3)  # pages of the tables; the header and schema are intact
    path.write_bytes(bytes(data))
    with Store(path) as store, pytest.raises(StoreError, match="damaged") as info:
        store.search_chats("x")  # without verify, the query that meets the damage says so
    assert info.value.reason == "damaged"
    with pytest.raises(StoreError, match="damaged"):
        Store(path, verify=True)
    store, note = Store.open_or_recover(path)  # verifies
    store.close()
    assert "damaged" in note and any(".corrupt-" in p.name for p in tmp_path.iterdir())


def test_open_or_recover_moves_the_wal_with_the_file_and_never_overwrites(tmp_path):
    path = tmp_path / "ponder.db"
    _garbage(path)
    Path(f"{path}-wal").write_bytes(b"old wal")
    first, _ = Store.open_or_recover(path)
    first.close()
    _garbage(path)
    second, note = Store.open_or_recover(path)
    second.close()
    asides = sorted(p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name)
    assert len([n for n in asides if not n.endswith("-wal")]) == 2  # two recoveries, two kept files
    wal = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name and p.name.endswith("-wal")]
    assert any(p.read_bytes() == b"old wal" for p in wal)


def test_healthy_file_opens_without_note_and_unusable_path_is_not_moved(tmp_path):
    path = tmp_path / "ponder.db"
    Store(path).close()
    store, note = Store.open_or_recover(path)
    store.close()
    assert note is None
    folder = tmp_path / "folder.db"
    folder.mkdir()
    with pytest.raises(StoreError) as info:
        Store.open_or_recover(folder)
    assert info.value.reason == "unreadable" and folder.is_dir()


# --- default location -----------------------------------------------------------------------------
def test_default_store_path_per_platform(tmp_path):
    home = Path.home()
    assert default_store_path({"PONDER_DATA_DIR": str(tmp_path)}, "linux") == tmp_path / "ponder.db"
    assert default_data_dir({}, "linux") == home / ".local" / "share" / "ponder"
    assert default_data_dir({"XDG_DATA_HOME": str(tmp_path)}, "linux") == tmp_path / "ponder"
    assert default_data_dir({}, "darwin") == home / "Library" / "Application Support" / "Ponder"
    assert default_data_dir({"APPDATA": str(tmp_path)}, "win32") == tmp_path / "Ponder"
    assert default_store_path().name == "ponder.db"


def test_a_long_document_is_stored_as_the_same_json_encoded_in_pieces(store):
    from core.store.archive import _JSON_PIECE_CHARS, dump_json, dump_json_in_pieces
    tricky = 'plain "quoted" back\\slash\nnew line\ttab \x00\x1f café 😀 \u2028 '
    text = tricky * (2 * _JSON_PIECE_CHARS // len(tricky) + 3)
    parsed = {"name": "long.txt", "sections": [{"text": text}, {"text": "short"}], "note": "\x00 0 \x00"}
    assert dump_json_in_pieces(parsed, "parsed") == dump_json(parsed, "parsed")
    row = store.add_document("b" * 64, "long.txt", "text/plain", len(text), parsed)
    assert store.get_document(row.id).parsed == parsed
