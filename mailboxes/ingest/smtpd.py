"""The SMTP journal/BCC receiver: an aiosmtpd server in front of the ingest service.

RCPT TO is accepted only for a tenant's journal address (550 5.1.1 otherwise);
DATA is parsed and stored through the ingest service, in a worker thread, and
only then answered 250. Messages that arrive while the database threads are busy
are stored together, in one transaction, when a thread frees up (group commit:
each still gets its 250 only after that commit).

Too big: 552 5.3.4 (the SIZE announced in EHLO and the DATA limit both come
from INGEST_MAX_MESSAGE_BYTES). Unusable: 554 5.6.0.
Anything unexpected (database down, a bug): 451 4.3.0, logged, so the sending
MTA retries later, and the server keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.db import connections

from mailboxes.ingest.limits import get_limits
from mailboxes.ingest.service import (
    TEMPORARY_FAILURE,
    SmtpEnvelope,
    SmtpOutcome,
    ingest_smtp_many,
    journal_tenants,
)

logger = logging.getLogger(__name__)

MAX_RCPT = 100
# Messages stored in one transaction at most (group commit).
MAX_BATCH = 100


def close_stale_connections() -> None:
    """Close this thread's connections that are broken or past CONN_MAX_AGE.

    Like close_old_connections, except that a healthy SQLite connection is kept:
    settings force CONN_MAX_AGE=0 there, and reopening the file for every
    message (pragmas, a WAL checkpoint on close) would cost more than the ingest.
    """
    for conn in connections.all(initialized_only=True):
        if conn.vendor == "sqlite" and conn.connection is not None and not conn.errors_occurred:
            continue
        conn.close_if_unusable_or_obsolete()


def _in_db_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run Django ORM work in a worker thread with healthy connections."""
    close_stale_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_stale_connections()


def _close_all_in_thread(barrier: threading.Barrier) -> None:
    # Each worker thread takes one of these (the barrier holds it until all have one).
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=5)
    connections.close_all()


class Batcher:
    """Hands received messages to the database threads, batching those that queue up.

    At most `workers` batches run at once; whatever arrives meanwhile waits and
    goes into the next batch, so under load one commit serves many messages.
    """

    def __init__(self, executor: ThreadPoolExecutor, workers: int) -> None:
        self.executor = executor
        self.queue: asyncio.Queue[tuple[SmtpEnvelope, asyncio.Future[SmtpOutcome]]] = (
            asyncio.Queue()
        )
        self.slots = asyncio.Semaphore(workers)
        self.running: set[asyncio.Task[None]] = set()
        self.task: asyncio.Task[None] | None = None
        # Counters for the curious (the benchmark reports the average batch).
        self.batches = 0
        self.messages = 0

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Finish the batches being stored; refuse what still waits with 451 (MTAs retry)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        while not self.queue.empty():
            _, future = self.queue.get_nowait()
            if not future.done():
                future.set_result(SmtpOutcome(TEMPORARY_FAILURE))
        if self.running:
            await asyncio.gather(*self.running, return_exceptions=True)

    async def submit(self, envelope: SmtpEnvelope) -> SmtpOutcome:
        future: asyncio.Future[SmtpOutcome] = asyncio.get_running_loop().create_future()
        await self.queue.put((envelope, future))
        return await future

    async def _loop(self) -> None:
        while True:
            await self.slots.acquire()
            try:
                batch = [await self.queue.get()]
            except asyncio.CancelledError:
                self.slots.release()
                raise
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            self.batches += 1
            self.messages += len(batch)
            task = asyncio.get_running_loop().create_task(self._store(batch))
            self.running.add(task)
            task.add_done_callback(self.running.discard)

    async def _store(self, batch: list[tuple[SmtpEnvelope, asyncio.Future[SmtpOutcome]]]) -> None:
        try:
            call = functools.partial(_in_db_thread, ingest_smtp_many, [e for e, _ in batch])
            outcomes = await asyncio.get_running_loop().run_in_executor(self.executor, call)
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                # A client that hung up cancelled its future; its message is stored
                # all the same and its MTA's retry will find it there.
                if not future.done():
                    future.set_result(outcome)
        finally:
            self.slots.release()


class JournalHandler:
    """aiosmtpd handler: the RCPT and DATA hooks."""

    # A journal address accepted at RCPT is not looked up again for this long.
    RCPT_CACHE_SECONDS = 30.0

    def __init__(self, executor: ThreadPoolExecutor, batcher: Batcher) -> None:
        self.executor = executor
        self.batcher = batcher
        self._known_addresses: dict[str, float] = {}

    async def _is_journal_address(self, address: str) -> bool:
        key = address.strip().lower()
        now = time.monotonic()
        if self._known_addresses.get(key, 0.0) > now:
            return True
        known = bool(await self._run(journal_tenants, [address]))
        if known:
            self._known_addresses[key] = now + self.RCPT_CACHE_SECONDS
        else:
            self._known_addresses.pop(key, None)
        return known

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        call = functools.partial(_in_db_thread, fn, *args, **kwargs)
        return await loop.run_in_executor(self.executor, call)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RCPT:
            return "452 4.5.3 Too many recipients"
        try:
            known = await self._is_journal_address(address)
        except Exception:
            logger.exception("smtp: looking up journal address %r failed", address)
            return TEMPORARY_FAILURE
        if not known:
            logger.info("smtp: %s refused: not a journal address", address)
            return f"550 5.1.1 <{address}>: not a journal address of any tenant"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # only with decode_data=True, which we never set
            raw = raw.encode("utf-8", "surrogateescape")
        peer = str(session.peer[0]) if session.peer else ""
        try:
            outcome = await self.batcher.submit(
                SmtpEnvelope(raw, list(envelope.rcpt_tos), envelope.mail_from or "", peer)
            )
        except Exception:
            logger.exception(
                "smtp: storing mail from %s (%s) to %s failed",
                envelope.mail_from,
                peer,
                envelope.rcpt_tos,
            )
            return TEMPORARY_FAILURE
        # Refusals were logged with their reason where they were decided.
        logger.info("smtp: %s from %s (%s)", outcome.reply, envelope.mail_from, peer)
        return outcome.reply

    async def handle_exception(self, error: Exception) -> str:
        logger.error("smtp: session error", exc_info=error)
        return TEMPORARY_FAILURE


def default_workers() -> int:
    """One database thread on SQLite (a single writer anyway), two elsewhere.

    The process is bound by the GIL: more threads only make the batches smaller
    (measured on PostgreSQL: 1-2 threads ~110-120 messages/s, 4 threads ~75-90).
    Scale out with more receivers instead.
    """
    return 1 if connections["default"].vendor == "sqlite" else 2


class JournalSMTP(SMTP):
    """aiosmtpd's SMTP with enhanced status codes on size refusals and lenient lines."""

    # Real mail breaks the 998-octet line limit now and then; refusing it would only
    # make the journaling MTA bounce. Size is bounded by data_size_limit anyway.
    line_length_limit = 1024 * 1024

    async def push(self, status: str) -> None:
        if status.startswith("552 Error"):
            limit = self.data_size_limit or 0
            status = f"552 5.3.4 Message too big for this system (limit {limit:,} bytes)"
        await super().push(status)


class JournalServer:
    """The receiver, bound to host:port (port 0 picks a free one).

    In the foreground: `asyncio.run(server.serve(stop_event))`. In tests and
    benchmarks: `start_in_thread()` returns (host, port), `stop_thread()` stops it.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 2525, *, workers: int = 0) -> None:
        self.host = host
        self.port = port
        self.workers = workers or getattr(settings, "JOURNAL_SMTPD_WORKERS", 0) or default_workers()
        self.address: tuple[str, int] | None = None
        self._server: asyncio.AbstractServer | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._batcher: Batcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="journal-db")
        self._batcher = Batcher(self._executor, self.workers)
        self._batcher.start()
        handler = JournalHandler(self._executor, self._batcher)
        limit = get_limits().max_message_bytes
        hostname = socket.gethostname()

        def factory() -> JournalSMTP:
            return JournalSMTP(
                handler,
                data_size_limit=limit,
                enable_SMTPUTF8=True,
                hostname=hostname,
                ident="Clawback journal receiver",
                loop=loop,
            )

        self._server = await loop.create_server(factory, self.host, self.port)
        sockname = self._server.sockets[0].getsockname()
        self.address = (sockname[0], sockname[1])
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._batcher is not None:
            await self._batcher.stop()
        if self._executor is not None:
            # Let messages being stored finish (their 250 may be lost: the MTA retries,
            # and ingest is idempotent), then close every worker's connections.
            barrier = threading.Barrier(self.workers)
            closing = [
                self._executor.submit(_close_all_in_thread, barrier) for _ in range(self.workers)
            ]
            await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(self._executor.shutdown, wait=True)
            )
            for future in closing:
                with contextlib.suppress(Exception):
                    future.result()

    async def serve(
        self,
        stop: asyncio.Event,
        ready: Callable[[tuple[str, int]], None] | None = None,
    ) -> None:
        address = await self.start()
        if ready is not None:
            ready(address)
        try:
            await stop.wait()
        finally:
            await self.stop()

    # --- In a background thread (tests, benchmarks) ---------------------------------

    def start_in_thread(self, timeout: float = 10) -> tuple[str, int]:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stop = asyncio.Event()
            try:
                loop.run_until_complete(self.serve(self._stop, lambda _: started.set()))
            except BaseException as exc:
                failure.append(exc)
                started.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="journal-smtpd", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise RuntimeError("the journal SMTP server did not start in time")
        if failure:
            raise failure[0]
        assert self.address is not None
        return self.address

    def stop_thread(self, timeout: float = 10) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
