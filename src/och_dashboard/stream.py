"""The live dashboard stream: one LISTEN connection per API process fans change notifications
out to that process's open streams (held while a stream is open, closed a few seconds after
the last one ends).

The database sends the ids of students whose cache row changed on channel och_dashboard_changed
(sql/functions/change_notify.sql). The hub's listener thread wakes the streams of those
students; each stream then re-reads its own row as the student (the same masked api view as
GET /dashboard) and sends only the sections that changed. Nothing private is on the channel.

Under gunicorn's gthread worker each open stream holds a thread (not a process) for its
lifetime; the docs recommend a separate API instance for streams with many threads, or the
gevent worker class, so streams never starve the request workers.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import secrets
import select
import threading
import time
from collections import defaultdict

import psycopg2

log = logging.getLogger(__name__)

CHANNEL = "och_dashboard_changed"


class Hub:
    """Process-wide fan-out of change notifications to subscriber queues."""

    def __init__(self, dsn: str, poll_seconds: float = 5.0):
        self._dsn = dsn
        self._poll_seconds = poll_seconds  # how soon a hub nobody listens to lets go
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[queue.Queue]] = defaultdict(set)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.listening = threading.Event()

    def subscribe(self, user_id: str, wait_seconds: float = 2.0) -> queue.Queue:
        """A queue that receives "changed" for this student; waits (briefly) until the hub
        listens, so a change right after subscribing is heard."""
        q: queue.Queue = queue.Queue(maxsize=16)
        with self._lock:
            self._subscribers[user_id].add(q)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name="och-stream-hub", daemon=True
                )
                self._thread.start()
        self.listening.wait(wait_seconds)
        return q

    def unsubscribe(self, user_id: str, q: queue.Queue) -> None:
        with self._lock:
            self._subscribers[user_id].discard(q)
            if not self._subscribers[user_id]:
                del self._subscribers[user_id]

    def stop(self) -> None:
        self._stop.set()

    def _wake(self, user_id: str) -> None:
        with self._lock:
            targets = list(self._subscribers.get(user_id, ()))
        for q in targets:
            # a full queue is a burst of changes: the stream re-reads once anyway
            with contextlib.suppress(queue.Full):
                q.put_nowait("changed")

    def _idle_exit(self) -> bool:
        """True, and the thread is done, when no stream is open: the hub holds its connection
        only while someone listens (the next subscribe starts a new thread, which re-reads)."""
        with self._lock:
            if self._subscribers and not self._stop.is_set():
                return False
            self._thread = None
            self.listening.clear()
            return True

    def _run(self) -> None:
        backoff = 0.5
        while not self._idle_exit():
            conn = None
            try:
                conn = psycopg2.connect(
                    self._dsn, application_name="och-dashboard-stream-hub", connect_timeout=5
                )
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"listen {CHANNEL}")
                self.listening.set()
                backoff = 0.5
                # changes made before LISTEN took effect were not heard: every stream re-reads
                with self._lock:
                    users = list(self._subscribers)
                for user_id in users:
                    self._wake(user_id)
                while not self._idle_exit():
                    if select.select([conn], [], [], self._poll_seconds) == ([], [], []):
                        continue
                    conn.poll()
                    while conn.notifies:
                        note = conn.notifies.pop(0)
                        for user_id in note.payload.split(","):
                            self._wake(user_id)
                return
            except psycopg2.Error as exc:
                self.listening.clear()
                if self._idle_exit():  # nobody to tell (a server shutting down, say)
                    return
                log.warning("stream hub: database connection lost (%s); retrying", exc)
                # streams re-read on reconnect: a change missed meanwhile is not lost
                with self._lock:
                    users = list(self._subscribers)
                for user_id in users:
                    self._wake(user_id)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)
            finally:
                if conn is not None:
                    conn.close()


def new_ticket() -> str:
    return secrets.token_urlsafe(24)
