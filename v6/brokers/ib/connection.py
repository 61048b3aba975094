"""One connection to TWS / IB Gateway, shared by market data and orders, that comes back.

ib_async does not reconnect by itself. This manager connects with the configured client
id and timeout, notices a drop (the socket closing, or TWS reporting error 1100 or 2110:
TWS itself lost IB's servers), and reconnects with backoff on the engine's schedule: the
engine calls :meth:`IBConnectionManager.ensure_connected` at the start of every cycle and
carries on without trading while it returns False (the ``broker_disconnect`` circuit
breaker reads :attr:`connected`). After a reconnect every ``on_reconnect`` callback runs
(market data resubscribes, the broker re-reads open orders, executions and positions)
before the cycle goes on, so no decision is taken on a stale picture.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ib_async import IB, Contract

from v6.config import IBSettings
from v6.errors import SafetyError, V6Error

log = logging.getLogger(__name__)

# TWS error codes about the connection itself (IB-PROTOCOL.md).
CONNECTIVITY_LOST = {1100, 2110}
RESTORED_DATA_LOST = 1101
RESTORED_DATA_KEPT = 1102


class IBConnectionError(V6Error):
    """TWS / IB Gateway could not be reached; says where V6 looked and what to check."""

    exit_status = 4


def is_paper_account(account: str) -> bool:
    """IB paper (demo) account ids start with D (DU..., DF...); live ones do not."""
    return account.upper().startswith("D")


class IBConnectionManager:
    """Owns the ``IB`` client: connect, detect drops, reconnect with backoff."""

    def __init__(
        self,
        settings: IBSettings,
        *,
        ib: IB | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.ib = ib or IB()
        self.account = settings.account
        self._monotonic = monotonic
        self._lost = False  # TWS says it lost IB's servers although our socket is up
        self._attempts = 0
        self._next_attempt = 0.0
        self._was_connected = False
        self._callbacks: list[Callable[[], None]] = []
        self._restore_pending = False  # set inside ib_async's callbacks, run by the engine
        self.reconnects = 0
        # IB's pacing: ib_async queues requests beyond this rate instead of sending them.
        self.ib.client.MaxRequests = settings.max_requests_per_second
        # A request TWS never answers must not hang the cycle (ib_async waits forever
        # by default); callers treat the TimeoutError like a disconnect.
        self.ib.RequestTimeout = settings.timeout_seconds
        self.ib.errorEvent += self._on_error
        self.ib.disconnectedEvent += self._on_disconnected

    # -- state ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the socket is up and TWS is connected to IB."""
        return self.ib.isConnected() and not self._lost

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after every successful reconnect (not the first connect)."""
        self._callbacks.append(callback)

    # -- connecting -------------------------------------------------------------------

    def connect(self) -> None:
        """Connect once, or raise :class:`IBConnectionError` explaining what to check."""
        s = self.settings
        try:
            self.ib.connect(
                s.host, s.port, clientId=s.client_id, timeout=s.timeout_seconds, readonly=False
            )
        except (OSError, TimeoutError, ConnectionError) as exc:
            self.ib.disconnect()  # leave the client clean for the next attempt
            raise IBConnectionError(
                f"cannot reach TWS / IB Gateway at {s.host}:{s.port} with client id "
                f"{s.client_id} ({type(exc).__name__}: {exc}); is it running with the API "
                "enabled on that port, and is the client id free? (docs/IB.md)"
            ) from None
        accounts = self.ib.managedAccounts()
        if not self.account:
            self.account = accounts[0] if accounts else ""
        elif accounts and self.account not in accounts:
            self.ib.disconnect()
            raise SafetyError(
                f"account {self.account} is not managed by this login (it has "
                f"{', '.join(accounts)}); refusing to trade"
            )
        self._lost = False
        self._attempts = 0
        self._was_connected = True
        log.info("connected to %s:%s as client %s, account %s", s.host, s.port, s.client_id,
                 self.account)  # fmt: skip

    def check_account_type(self, *, live: bool) -> None:
        """Refuse a paper run on a live account and a live run on a paper one."""
        paper = is_paper_account(self.account)
        if live and paper:
            raise SafetyError(
                f"mode live but account {self.account} is a paper account; use mode: paper"
            )
        if not live and not paper:
            raise SafetyError(
                f"mode paper but account {self.account} is a LIVE account: orders would be "
                "real; use a paper login, or mode: live with --live"
            )

    def ensure_connected(self) -> bool:
        """Reconnect if needed and due; True when connected (callbacks have run)."""
        if self.ib.isConnected():
            if self._lost:
                return False
            if self._restore_pending:
                self._restore_pending = False
                self._restored()
            return True
        now = self._monotonic()
        if now < self._next_attempt:
            return False
        backoff = self.settings.reconnect_backoff_seconds or [5.0]
        delay = backoff[min(self._attempts, len(backoff) - 1)]
        self._attempts += 1
        self._next_attempt = now + delay
        try:
            self.connect()
        except (IBConnectionError, TimeoutError, ConnectionError, OSError) as exc:
            log.warning("reconnect attempt %d failed: %s (next in %.1fs)", self._attempts, exc,
                        delay)  # fmt: skip
            return False
        self.reconnects += 1
        log.warning("reconnected to IB (reconnect %d)", self.reconnects)
        self._restored()
        return True

    def _restored(self) -> None:
        try:
            for callback in self._callbacks:
                callback()
        except (ConnectionError, TimeoutError, OSError) as exc:
            log.warning("restoring after reconnect failed (%s): retrying next cycle", exc)
            self._restore_pending = True

    def pump(self, seconds: float = 0.0) -> None:
        """Let ib_async process what arrived (the engine is synchronous).

        A socket that drops while ib_async waits raises ``ConnectionError`` from the wait
        itself; that is a disconnect like any other, handled at the next cycle.
        """
        if self.ib.isConnected():
            try:
                self.ib.sleep(seconds)
            except ConnectionError as exc:
                log.warning("connection dropped while waiting: %s", exc)
        elif seconds > 0:
            time.sleep(seconds)

    def disconnect(self) -> None:
        self.ib.disconnect()

    # -- events -----------------------------------------------------------------------

    def _on_disconnected(self) -> None:
        log.warning("disconnected from IB")
        self._next_attempt = 0.0  # first reconnect attempt at the next cycle

    def _on_error(
        self, req_id: int, code: int, message: str, contract: Contract | None = None
    ) -> None:
        if code in CONNECTIVITY_LOST:
            log.warning("IB connectivity lost (%d): %s", code, message)
            self._lost = True
        elif code in (RESTORED_DATA_LOST, RESTORED_DATA_KEPT):
            log.warning("IB connectivity restored (%d): %s", code, message)
            was_lost = self._lost
            self._lost = False
            if was_lost or code == RESTORED_DATA_LOST:
                self.reconnects += 1
                self._restore_pending = True  # resubscribe and reconcile at the next cycle
