"""The demo's bill payment chain: account tokens, payments taken and settled.

The account service validates an account (only while the ledger behind it answers) and issues
an account token signed with its current key; the payment processor takes a payment only with
a token signed with a key it knows, and settles it a moment later. With ``stale_tokens`` the
account service signs with a rotated key the processor has not been told about: every health
check stays green, and only a transaction that goes through both sees the payment refused.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

from aiohttp import web

CURRENT_KEY, ROTATED_KEY = "k1", "k2"
SETTLE_AFTER = 0.3  # seconds from a payment's submission to its settlement
KEEP = 1000  # payments remembered for their status
Action = Literal["issue_token", "take_payment", "payment_status"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PaymentBook:
    """The payments a processor took, by id, with when (the latest ``KEEP``)."""

    def __init__(self) -> None:
        self.taken: OrderedDict[str, float] = OrderedDict()
        self._numbers = itertools.count(7001)

    def take(self) -> str:
        payment = f"pay_{next(self._numbers)}"
        self.taken[payment] = time.monotonic()
        while len(self.taken) > KEEP:
            self.taken.popitem(last=False)
        return payment


class Owner(Protocol):
    """What a handler needs of the service it runs in."""

    def healthy(self) -> bool: ...

    @property
    def stale_tokens(self) -> bool: ...

    @property
    def payments(self) -> PaymentBook: ...


def handler(action: Action, owner: Owner) -> Handler:
    """The handler of a route the topology marks with ``action``."""
    if action == "issue_token":
        return _issue_token(owner)
    if action == "take_payment":
        return _take_payment(owner.payments)
    return _payment_status(owner.payments)


def _issue_token(owner: Owner) -> Handler:
    async def validate(request: web.Request) -> web.Response:
        if not owner.healthy():  # validating an account asks the ledger
            return web.json_response({"valid": False, "error": "ledger unavailable"}, status=503)
        body = await request.json() if request.can_read_body else {}
        account = str(body.get("account_id", "1001"))
        key = ROTATED_KEY if owner.stale_tokens else CURRENT_KEY
        token = f"acct-{key}-{secrets.token_hex(12)}"
        return web.json_response(
            {"valid": True, "account": {"id": account, "status": "open"}, "account_token": token}
        )

    return validate


def _take_payment(book: PaymentBook) -> Handler:
    async def take(request: web.Request) -> web.Response:
        token = request.headers.get("X-Account-Token")
        if token is not None and not token.startswith(f"acct-{CURRENT_KEY}-"):
            return web.json_response({"error": "account token rejected"}, status=401)
        return web.json_response({"id": book.take(), "status": "accepted"}, status=201)

    return take


def _payment_status(book: PaymentBook) -> Handler:
    async def status(request: web.Request) -> web.Response:
        payment = request.match_info["payment_id"]
        taken = book.taken.get(payment)
        if taken is None:
            return web.json_response({"error": "no such payment"}, status=404)
        settled = time.monotonic() - taken >= SETTLE_AFTER
        return web.json_response({"id": payment, "status": "settled" if settled else "pending"})

    return status
