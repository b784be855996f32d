"""The event loop that drives Scrapy, asyncio's or a classic Twisted
reactor's, behind one set of functions: results to await, calls soon or
later, sleeping, running a coroutine on, and watching a descriptor. The
rest of the package does not ask which loop it runs on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReadDescriptor
from zope.interface import implementer  # type: ignore[import-untyped]

_T = TypeVar("_T")

__all__ = ["Waiter", "call_later", "call_soon", "sleep", "start", "watch_readable"]


class Waiter:
    """A result slot the event loop can await: an asyncio future when an
    asyncio loop drives Scrapy (asyncio reactor or reactorless), else a
    Deferred for the classic reactor."""

    __slots__ = ("_deferred", "_future")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        if loop is not None:
            self._future: asyncio.Future[Any] | None = loop.create_future()
            self._deferred: Deferred[Any] | None = None
        else:
            self._future = None
            self._deferred = Deferred()

    def settle(self, value: Any, error: BaseException | None) -> None:
        if self._future is not None:
            if self._future.done():  # cancelled meanwhile
                return
            if error is not None:
                self._future.set_exception(error)
            else:
                self._future.set_result(value)
            return
        assert self._deferred is not None
        if self._deferred.called:  # cancelled meanwhile
            return
        if error is not None:
            self._deferred.errback(error)
        else:
            self._deferred.callback(value)

    @property
    def awaitable(self) -> Awaitable[Any]:
        if self._future is not None:
            return self._future
        assert self._deferred is not None
        return self._deferred


def call_soon(loop: asyncio.AbstractEventLoop | None) -> Callable[[Callable[[], None]], object]:
    """Run a function on the event-loop thread, after the current pass."""
    if loop is not None:
        return loop.call_soon
    from twisted.internet import reactor

    later: Any = reactor
    return lambda function: later.callLater(0, function)


def watch_readable(
    fd: int, on_readable: Callable[[], None], loop: asyncio.AbstractEventLoop | None
) -> Callable[[], object]:
    """Call ``on_readable`` on the event-loop thread while ``fd`` is
    readable; returns the function that stops watching."""
    if loop is not None:
        loop.add_reader(fd, on_readable)
        return lambda: loop.remove_reader(fd)
    from twisted.internet import reactor

    fd_set: Any = reactor  # IReactorFDSet, which zope's interfaces do not type
    reader = _ReadableDescriptor(fd, on_readable)
    fd_set.addReader(reader)
    return lambda: fd_set.removeReader(reader)


@implementer(IReadDescriptor)
class _ReadableDescriptor:
    """The wake-up pipe for the classic reactor (IReadDescriptor; the
    method names are Twisted's)."""

    def __init__(self, fd: int, on_readable: Callable[[], None]) -> None:
        self._fd = fd
        self._on_readable = on_readable

    def fileno(self) -> int:
        return self._fd

    def doRead(self) -> None:
        self._on_readable()

    def connectionLost(self, reason: object) -> None:
        pass

    def logPrefix(self) -> str:
        return "scrapy_tlsclient-completions"


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
