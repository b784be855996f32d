"""What the failover middleware knows per site: the identity that last
passed (sticky), and for each identity its cool-down after blocks. Pure:
the time comes from a clock passed in (epoch seconds, so the state can be
saved and read back by another run), nothing here does I/O or logs.

The model (docs/failover.rst): a *site* is a key such as a registrable
domain; an *identity* is a name from the pool; a *block* of an identity at a
site puts it on a cool-down there, doubled for each block in a row (up to a
ceiling) and never shorter than the site's ``Retry-After``; a *pass* makes
the identity the site's sticky one and ends its run of blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["Choice", "FailoverState", "Outcome"]

#: The format of the saved state (to_json); another one is ignored.
_FORMAT = 1


@dataclass
class _Standing:
    """One identity at one site."""

    #: Blocks in a row without a pass since; sets the next cool-down.
    strikes: int = 0
    #: Epoch seconds until which the identity is not used at the site.
    until: float = 0.0


@dataclass
class _Site:
    sticky: str | None = None
    standings: dict[str, _Standing] = field(default_factory=dict)


@dataclass(frozen=True)
class Choice:
    """The identity to send a request as, and how long to wait first (0
    unless every identity of the pool is cooling down at the site)."""

    identity: str
    wait: float


@dataclass(frozen=True)
class Outcome:
    """What a response changed at its site."""

    #: The site's sticky identity before and after (equal: no change).
    sticky_before: str | None
    sticky_after: str | None
    #: Seconds the identity now cools down for (0: none).
    cooldown: float = 0.0


class FailoverState:
    def __init__(
        self,
        pool: Sequence[str],
        *,
        cooldown: float,
        max_cooldown: float,
        clock: Callable[[], float],
    ) -> None:
        if not pool:
            raise ValueError("the pool needs at least one identity")
        self.pool = tuple(pool)
        self._cooldown = cooldown
        self._max_cooldown = max_cooldown
        self.clock = clock
        self._sites: dict[str, _Site] = {}

    # -- questions ------------------------------------------------------

    def sticky(self, site: str) -> str | None:
        state = self._sites.get(site)
        return state.sticky if state else None

    def cooling_until(self, site: str, identity: str) -> float:
        """Epoch seconds until which ``identity`` cools down at ``site``
        (in the past: it does not)."""
        state = self._sites.get(site)
        standing = state.standings.get(identity) if state else None
        return standing.until if standing else 0.0

    def available(self, site: str, identity: str) -> bool:
        return identity in self.pool and self.cooling_until(site, identity) <= self.clock()

    def choose(self, site: str, *, instead_of: str | None = None) -> Choice:
        """The identity for the next request to ``site``: the sticky one if
        it is not cooling down; else the first one of the pool that is not,
        in pool order from the one after ``instead_of`` (the identity just
        blocked, which is never chosen while another can be); else the one
        whose cool-down ends first, with the wait until then."""
        now = self.clock()
        sticky = self.sticky(site)
        if sticky is not None and sticky != instead_of and self.available(site, sticky):
            return Choice(sticky, 0.0)
        start = self.pool.index(instead_of) + 1 if instead_of in self.pool else 0
        order = self.pool[start:] + self.pool[:start]
        if instead_of is not None and len(order) > 1:
            order = (*(name for name in order if name != instead_of), instead_of)
        for name in order:
            if self.available(site, name):
                return Choice(name, 0.0)
        soonest = min(order, key=lambda name: self.cooling_until(site, name))
        return Choice(soonest, max(0.0, self.cooling_until(site, soonest) - now))

    # -- events -----------------------------------------------------------

    def passed(self, site: str, identity: str) -> Outcome:
        """A response to ``identity`` at ``site`` was not a block. A pass
        of an identity cooling down (sent before its block came back)
        changes nothing: the block is the newer news."""
        state = self._sites.setdefault(site, _Site())
        before = state.sticky
        if not self.available(site, identity):
            return Outcome(before, before)
        standing = state.standings.get(identity)
        if standing is not None:
            standing.strikes = 0
        state.sticky = identity
        return Outcome(before, identity)

    def blocked(
        self, site: str, identity: str, *, retry_after: float | None = None, strike: bool = True
    ) -> Outcome:
        """``identity`` was blocked at ``site``: it cools down there for
        ``cooldown * 2**(blocks in a row - 1)`` seconds (at most
        ``max_cooldown``), and at least ``retry_after`` (also capped). A
        block of an identity already cooling down (a request sent before
        the first block came back) only extends it to ``retry_after``.
        ``strike=False``: the block is the page's, not the identity's (it
        cools down only for ``retry_after``)."""
        now = self.clock()
        state = self._sites.setdefault(site, _Site())
        before = state.sticky
        standing = state.standings.setdefault(identity, _Standing())
        seconds = 0.0
        if strike and standing.until <= now:
            standing.strikes += 1
            seconds = min(self._max_cooldown, self._cooldown * 2 ** (standing.strikes - 1))
        if retry_after is not None:
            seconds = max(seconds, min(self._max_cooldown, retry_after))
        standing.until = max(standing.until, now + seconds)
        if state.sticky == identity and standing.until > now:
            state.sticky = None
        return Outcome(before, state.sticky, max(0.0, standing.until - now))

    # -- saving -----------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The state as plain JSON data (for JOBDIR). Identities whose
        cool-down is over and which have no strikes are left out."""
        now = self.clock()
        sites: dict[str, Any] = {}
        for site, state in self._sites.items():
            standings = {
                name: {"strikes": standing.strikes, "until": standing.until}
                for name, standing in state.standings.items()
                if standing.strikes or standing.until > now
            }
            if state.sticky is not None or standings:
                sites[site] = {"sticky": state.sticky, "identities": standings}
        return {"format": _FORMAT, "sites": sites}

    def load_json(self, data: object) -> int:
        """Take over a saved state; identities no longer in the pool are
        dropped. Returns the number of sites read; a state of another
        format or shape reads as none (a fresh start, not an error: it only
        costs re-learning)."""
        if (
            not isinstance(data, dict)
            or data.get("format") != _FORMAT
            or not isinstance(data.get("sites"), dict)
        ):
            return 0
        read = 0
        for site, saved in data["sites"].items():
            try:
                sticky = saved["sticky"]
                standings = {
                    name: _Standing(int(value["strikes"]), float(value["until"]))
                    for name, value in saved["identities"].items()
                    if name in self.pool
                }
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            self._sites[str(site)] = _Site(sticky if sticky in self.pool else None, standings)
            read += 1
        return read
