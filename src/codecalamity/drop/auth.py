"""The drop box's password: HTTP Basic, checked in constant time, shared by every endpoint.

Wrong passwords are limited per client address by a token bucket: a few tries at once, then one every few
seconds; past that the address gets 429 with ``Retry-After`` without its password being checked at all, so a
password cannot be guessed at line rate. The right password costs no token and is never slowed.
"""

from __future__ import annotations

import base64
import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

# Wrong passwords an address may send at once (a user mistyping, a client retrying); then one more every
# FAILURE_REFILL_SECONDS (20 a minute, 28,800 a day). At most TRACKED_ADDRESSES addresses are remembered (least
# recently failed first out), so a flood of addresses cannot grow memory.
FAILURES_BURST = 10
FAILURE_REFILL_SECONDS = 3.0
TRACKED_ADDRESSES = 4096


class FailureLimiter:
    """A token bucket of wrong-password attempts per client address.

    Parameters
    ----------
    burst
        Tokens an address starts with.
    refill
        Seconds per token regained.
    clock
        Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        burst: int = FAILURES_BURST,
        refill: float = FAILURE_REFILL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.refill = refill
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address: (tokens, as of)

    def _tokens(self, address: str) -> float:
        tokens, since = self._buckets.get(address, (float(self.burst), self.clock()))
        return min(float(self.burst), tokens + (self.clock() - since) / self.refill)

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try a password again; 0 when it may now."""
        if address not in self._buckets:
            return 0
        tokens = self._tokens(address)
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) * self.refill))

    def failed(self, address: str) -> None:
        """``address`` sent a wrong password: take one token."""
        self._buckets[address] = (max(0.0, self._tokens(address) - 1), self.clock())
        self._buckets.move_to_end(address)
        while len(self._buckets) > TRACKED_ADDRESSES:
            self._buckets.popitem(last=False)


class PasswordGate:
    """Lets a request through when no password is set, or when it carries the right one.

    Parameters
    ----------
    password
        The shared password, or None for an open drop box.
    """

    def __init__(self, password: str | None, limiter: FailureLimiter | None = None) -> None:
        self._password = password.encode() if password else None
        self.limiter = limiter or FailureLimiter()

    def authorised(self, request: Request) -> bool:
        """Whether ``request`` may go on (never while its address is over its wrong-password budget)."""
        if self._password is None:
            return True
        address = _address(request)
        if self.limiter.retry_after(address):
            return False
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False  # no password given yet: the browser asks its user, no try is spent
        try:
            _, _, given = base64.b64decode(value, validate=True).partition(b":")
        except ValueError:
            given = b""
        if hmac.compare_digest(given, self._password):
            return True
        self.limiter.failed(address)
        return False

    def denied(self, request: Request | None = None) -> Response:
        """The reply to a request without the right password: 429 while its address must wait, else 401."""
        wait = self.limiter.retry_after(_address(request)) if request is not None else 0
        if wait:
            return JSONResponse(
                {"error": f"too many wrong passwords; try again in {wait} s"},
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        return JSONResponse(
            {"error": "password required"},
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="calamity drop", charset="UTF-8"'},
        )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
