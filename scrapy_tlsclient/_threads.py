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
    from collections.abc import Callable

    from twisted.python.threadpool import ThreadPool

_T = TypeVar("_T")

__all__ = ["BlockingRunner", "make_runner"]


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
