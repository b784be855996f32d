"""Where blocking native calls run: never on the reactor thread.

With a Twisted reactor, a thread pool of the handler's own run through
``deferToThreadPool``; without one (``TWISTED_REACTOR_ENABLED = False``),
an asyncio executor of the same size. A pool of its own, sized from
``CONCURRENT_REQUESTS``, means N slow downloads never starve the reactor's
pool (DNS lookups use it) and ``close()`` can join exactly these threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from twisted.python.threadpool import ThreadPool

_T = TypeVar("_T")

__all__ = ["BlockingRunner", "call_later", "make_runner", "sleep", "start"]


class BlockingRunner(Protocol):
    async def run(self, function: Callable[..., _T], *args: object) -> _T: ...

    def submit(self, function: Callable[..., object], *args: object) -> None:
        """Run ``function`` in a pool thread without waiting for it; safe
        from any thread (cancels from finalizers and synchronous code)."""

    async def close(self) -> None:
        """Wait for the running calls, then stop the threads."""


class TwistedPoolRunner:
    def __init__(self, threads: int) -> None:
        from twisted.python.threadpool import ThreadPool

        self._pool: ThreadPool = ThreadPool(minthreads=0, maxthreads=threads, name="scrapy_tlsclient")
        # Daemon threads: a forced stop (a second Ctrl-C) skips close(), and
        # the interpreter must not then wait for idle workers forever.
        self._pool.threadFactory = _daemon_thread  # type: ignore[assignment]
        self._pool.start()

    async def run(self, function: Callable[..., _T], *args: object) -> _T:
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet import reactor
        from twisted.internet.threads import deferToThreadPool

        deferred = deferToThreadPool(reactor, self._pool, function, *args)
        return await maybe_deferred_to_future(deferred)

    def submit(self, function: Callable[..., object], *args: object) -> None:
        self._pool.callInThread(function, *args)

    async def close(self) -> None:
        from scrapy.utils.defer import maybe_deferred_to_future
        from twisted.internet import reactor
        from twisted.internet.defer import Deferred

        # ThreadPool.stop() joins its threads: do that off the reactor, in
        # a daemon thread (not the reactor's pool, which would then need
        # stopping too before the process could exit).
        stopped: Deferred[None] = Deferred()

        def stop() -> None:
            self._pool.stop()
            reactor.callFromThread(stopped.callback, None)

        threading.Thread(target=stop, name="scrapy_tlsclient-close", daemon=True).start()
        await maybe_deferred_to_future(stopped)


def _daemon_thread(*args: Any, **kwargs: Any) -> threading.Thread:
    return threading.Thread(*args, daemon=True, **kwargs)


class AsyncioExecutorRunner:
    def __init__(self, threads: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="scrapy_tlsclient")

    async def run(self, function: Callable[..., _T], *args: object) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def submit(self, function: Callable[..., object], *args: object) -> None:
        # After shutdown close() has already released everything.
        with contextlib.suppress(RuntimeError):
            self._executor.submit(function, *args)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        stopped = loop.create_future()

        def stop() -> None:
            self._executor.shutdown(wait=True)
            loop.call_soon_threadsafe(stopped.set_result, None)

        threading.Thread(target=stop, name="scrapy_tlsclient-close", daemon=True).start()
        await stopped


def make_runner(threads: int) -> BlockingRunner:
    from scrapy.utils.reactor import is_reactor_installed

    if is_reactor_installed():
        return TwistedPoolRunner(threads)
    return AsyncioExecutorRunner(threads)


def call_later(seconds: float, function: Callable[[], object]) -> Callable[[], None]:
    """Call ``function`` on the event loop after ``seconds``; returns a
    function that cancels the call if it has not run yet."""
    from scrapy.utils.reactor import is_reactor_installed

    if is_reactor_installed():
        from twisted.internet import reactor

        clock: Any = reactor  # zope interfaces confuse mypy about callLater's self
        delayed = clock.callLater(seconds, function)

        def cancel() -> None:
            if delayed.active():
                delayed.cancel()

        return cancel
    handle = asyncio.get_running_loop().call_later(seconds, function)
    return handle.cancel


async def sleep(seconds: float) -> None:
    """Sleep on whichever loop drives Scrapy (asyncio or a Twisted reactor)."""
    from scrapy.utils.asyncio import is_asyncio_available

    if is_asyncio_available():
        await asyncio.sleep(seconds)
        return
    from scrapy.utils.defer import maybe_deferred_to_future
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    await maybe_deferred_to_future(deferLater(reactor, seconds))


def start(coroutine: Coroutine[Any, Any, _T]) -> Awaitable[_T]:
    """Run ``coroutine`` from now on, on whichever loop drives Scrapy, so
    that its result can be awaited later: an asyncio task, or a Deferred
    under a classic Twisted reactor."""
    from scrapy.utils.asyncio import is_asyncio_available

    if is_asyncio_available():
        task = asyncio.ensure_future(coroutine)
        # The loop holds tasks weakly: one whose awaiter went away (a body
        # collected with its read ahead pending) must still run to its end.
        _RUNNING.add(task)
        task.add_done_callback(_RUNNING.discard)
        return task
    from twisted.internet.defer import Deferred

    return Deferred.fromCoroutine(coroutine)


_RUNNING: set[asyncio.Future[Any]] = set()
