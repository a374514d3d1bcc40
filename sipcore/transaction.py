"""Non-INVITE transactions: server side (RFC 3261 §17.2.2) and client side (§17.1.2).

Theory of operation
-------------------
Server (§17.2.2): a request that matches no transaction (§17.2.3) creates one in
TRYING and is handed to the TU; a retransmission of it is absorbed — while TRYING there
is nothing to send, in PROCEEDING/COMPLETED the last response is sent again — and never
reaches the TU twice. A final response moves it to COMPLETED, where Timer J (64*T1 on
UDP, 0 on a reliable transport) keeps it to absorb retransmissions, then it is freed.
A transaction left in TRYING/PROCEEDING by a TU that never answers is freed after 64*T1
too, so the table is bounded in time.

    TRYING --1xx--> PROCEEDING --final--> COMPLETED --Timer J--> (freed)
       \\------------------final-----------/

Client (§17.1.2): a sent request starts in TRYING with Timer F (64*T1, or the caller's
timeout) and, on UDP only, Timer E (T1, doubling up to T2; in PROCEEDING always T2) which
retransmits it. A 1xx moves it to PROCEEDING, a final response to COMPLETED (reported
once, Completed effect) where Timer K (T4 on UDP, 0 reliable) absorbs retransmitted
responses; Timer F firing first reports TimedOut. Responses match by top Via branch and
CSeq method (§17.1.3): `receive` takes that key, read from a parsed response
(`receive_response`) or from the raw bytes (`sipcore.response_match.read_response`).

    TRYING --1xx--> PROCEEDING --final--> COMPLETED --Timer K--> (freed)
       \\------------------final-----------/
    TRYING/PROCEEDING --Timer E--> Retransmit (same state); --Timer F--> TimedOut (freed)

Public API:
    Timers(t1=0.5, t2=4.0, t4=5.0)                    RFC 3261 §17.1.1.1 / Table 4
    server_key(request) -> ServerKey (a str)          §17.2.3 (with the RFC 2543 fallback)
    ServerTransactions(timers=Timers(), *, timer_j=None, granularity=1.0)
        .receive(request, *, reliable, now) -> ServerReceived
              .is_new: process it (then call .respond); else .resend is the bytes to
              send again (None while the TU has not answered yet: just drop the request)
        .respond(key, data, *, status, now)           record what was sent
        .handle_timer(now) -> None; .next_deadline() -> float | None; len(); .state(key)
              (timers are kept in slots of `granularity` s: they fire up to that late)
    ClientTransactions(timers=Timers(), *, granularity=0.01)
        .start(branch, method, data, *, reliable, now, timeout=None, destination=None)
              -> ClientKey                            track a request just sent
        .receive(key, status, now, response=None) -> Completed | None   (None: 1xx,
              absorbed retransmission, or no matching transaction)
        .receive_response(response, now) -> Completed | None   (the key read from it)
        .handle_timer(now) -> list[Retransmit | TimedOut]
        .next_deadline() -> float | None; len(); .state(key); .cancel(key); .clear()
              (timers are kept in slots of `granularity` s: they fire up to that late)
    Effects: Retransmit(key, data, destination), TimedOut(key, destination),
             Completed(key, status, response, destination)
"""

from __future__ import annotations

import enum
import heapq
import math
from dataclasses import dataclass
from typing import Any

from sipcore.errors import SipParseError
from sipcore.message import BRANCH_MAGIC, SipRequest, SipResponse
from sipcore.response_match import ClientKey, response_key
from sipcore.syntax import frozen_builder

ServerKey = str  # see server_key: one string per transaction, compared exactly


@dataclass(frozen=True, slots=True, kw_only=True)
class Timers:
    """T1 (RTT estimate), T2 (maximum non-INVITE retransmit interval), T4 (maximum time a
    message stays in the network) — §17.1.1.1; tests use small values."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2 or self.t4 < 0:
            raise ValueError("timers need 0 < T1 <= T2 and T4 >= 0")


class State(enum.Enum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    TERMINATED = "terminated"


def server_key(request: SipRequest) -> ServerKey:
    """§17.2.3: (branch, sent-by, method) when the branch has the magic cookie; otherwise
    the RFC 2543 match on Request-URI, tags, Call-ID, CSeq and top Via. ACK is keyed with
    INVITE's method so it would find its INVITE transaction (§17.2.3).

    One string, not a tuple of three (a table entry costs one object, not four):
    "METHOD sent-by branch". A method is a token and sent-by is host[:port] as
    `Via.sent_by` formats it — neither holds a space — so the string names the triple
    exactly, whatever the branch holds. An RFC 2543 key starts with a space (no method
    does) and gives each part with its length: exact too, and never equal to a 3261 key.
    """
    via = request.top_via()
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch
    if branch is not None and branch.startswith(BRANCH_MAGIC):
        return f"{method} {via.sent_by().lower()} {branch}"
    cseq = request.cseq()
    parts = (
        request.uri,
        request.to().tag or "",
        request.from_().tag or "",
        request.call_id,
        str(cseq.number),
        method,
        str(via),
    )
    return " 2543" + "".join(f" {len(part)}:{part}" for part in parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerReceived:
    key: ServerKey
    is_new: bool
    resend: bytes | None = None


_ServerReceived = frozen_builder(ServerReceived)  # one per request: no frozen __init__


class _Trying:
    """The table's value for a transaction not answered yet (TRYING). Each time slot has
    its own two (one per kind of transport), so a slot that comes due can tell the entry
    it filed from a later transaction of the same key: it frees only its own."""

    __slots__ = ("reliable",)

    def __init__(self, reliable: bool) -> None:
        self.reliable = reliable


class _Proceeding:
    """The value once a provisional response was sent (PROCEEDING; rare: the registrar
    answers finally at once). `trying` is the marker it had: its slot's, for its expiry."""

    __slots__ = ("data", "trying")

    def __init__(self, data: bytes, trying: _Trying) -> None:
        self.data = data
        self.trying = trying


class _Slot:
    """The keys whose timer falls in one slot of time: `pending` were filed by `receive`
    (the 64*T1 bound of an unanswered transaction), `completed` by a final `respond`
    (Timer J)."""

    __slots__ = ("completed", "pending", "tcp", "udp")

    def __init__(self) -> None:
        self.pending: list[ServerKey] = []
        self.completed: list[ServerKey] = []
        self.udp = _Trying(False)
        self.tcp = _Trying(True)


class ServerTransactions:
    """The table of non-INVITE server transactions.

    Sized for the registrar under load (every answered UDP REGISTER is kept for
    Timer J, 32 s — 32,000 at 1,000/s): one dict from the key string to the value,
    which in COMPLETED — nearly every entry — is just the response bytes already sent;
    a `_Trying` or `_Proceeding` marker before. No object, tuple or float per entry.
    Timers are filed by key in slots of `granularity` seconds (a dict of slots and a
    heap of their numbers: ~32 slots, not one heap entry per timer). A timer fires when
    `handle_timer` is first called at or after the END of its slot: up to `granularity`
    late, never early. A slot's entry is checked against the table when it comes due
    (the COMPLETED value is only ever freed by its Timer J entry; a TRYING one only by the
    slot whose marker it holds), so stale entries need no removal.
    """

    def __init__(
        self, timers: Timers = Timers(), *, timer_j: float | None = None, granularity: float = 1.0
    ) -> None:
        if granularity <= 0:
            raise ValueError("granularity must be positive")
        self.timers = timers
        self.timer_j = 64 * timers.t1 if timer_j is None else timer_j
        self.granularity = granularity
        self._table: dict[ServerKey, bytes | _Trying | _Proceeding] = {}
        self._slots: dict[int, _Slot] = {}
        self._order: list[int] = []  # heap of the slot numbers in _slots

    def __len__(self) -> int:
        return len(self._table)

    def state(self, key: ServerKey) -> State:
        value = self._table.get(key)
        if value is None:
            return State.TERMINATED
        if isinstance(value, _Trying):
            return State.TRYING
        return State.PROCEEDING if isinstance(value, _Proceeding) else State.COMPLETED

    def receive(self, request: SipRequest, *, reliable: bool, now: float) -> ServerReceived:
        """Match a request (raises SipParseError if its Via/CSeq cannot be read)."""
        if request.method == "INVITE" or request.method == "ACK":
            raise SipParseError("INVITE transactions are not handled here", status_hint=501)
        key = server_key(request)
        table = self._table
        value = table.get(key)
        if value is not None:  # §17.2.2: absorbed; in PROCEEDING/COMPLETED sent again
            if isinstance(value, _Trying):
                return _ServerReceived(key=key, is_new=False, resend=None)
            if isinstance(value, _Proceeding):
                return _ServerReceived(key=key, is_new=False, resend=value.data)
            return _ServerReceived(key=key, is_new=False, resend=value)
        slot = self._slot(now + 64 * self.timers.t1)
        slot.pending.append(key)
        table[key] = slot.tcp if reliable else slot.udp
        return _ServerReceived(key=key, is_new=True)

    def respond(self, key: ServerKey, data: bytes, *, status: int, now: float) -> None:
        """Record the response sent for `key` (§17.2.2: provisional → PROCEEDING,
        final → COMPLETED with Timer J). Unknown or completed keys are ignored."""
        table = self._table
        value = table.get(key)
        if isinstance(value, _Trying):
            trying = value
        elif isinstance(value, _Proceeding):
            trying = value.trying
        else:
            return  # unknown (freed, or never received) or already completed
        if status < 200:
            table[key] = _Proceeding(data, trying)
            return
        if trying.reliable or self.timer_j <= 0:
            del table[key]
            return
        table[key] = data
        self._slot(now + self.timer_j).completed.append(key)

    def handle_timer(self, now: float) -> None:
        order, slots, width = self._order, self._slots, self.granularity
        while order and order[0] * width <= now:
            self._expire(slots.pop(heapq.heappop(order)))

    def next_deadline(self) -> float | None:
        """When `handle_timer` next frees something: the end of the first slot that still
        files a live entry (slots holding only stale ones are dropped on the way)."""
        order, slots = self._order, self._slots
        while order:
            slot = slots[order[0]]
            if any(self._is_live(slot, key) for key in slot.pending) or any(
                self._is_completed(key) for key in slot.completed
            ):
                return order[0] * self.granularity
            del slots[heapq.heappop(order)]
        return None

    def _slot(self, deadline: float) -> _Slot:
        """The slot whose end is the first slot boundary at or after `deadline`."""
        width = self.granularity
        number = math.ceil(deadline / width)
        if number * width < deadline:  # a rounded quotient: never fire early
            number += 1
        slot = self._slots.get(number)
        if slot is None:
            slot = self._slots[number] = _Slot()
            heapq.heappush(self._order, number)
        return slot

    def _is_live(self, slot: _Slot, key: ServerKey) -> bool:
        """Is `key` still the unanswered (or provisionally answered) transaction that
        `slot` filed? A later one of the same key holds another slot's marker."""
        value = self._table.get(key)
        if isinstance(value, _Proceeding):
            value = value.trying
        return value is slot.udp or value is slot.tcp

    def _is_completed(self, key: ServerKey) -> bool:
        value = self._table.get(key)
        return value is not None and not isinstance(value, (_Trying, _Proceeding))

    def _expire(self, slot: _Slot) -> None:
        table = self._table
        for key in slot.pending:
            if self._is_live(slot, key):
                del table[key]
        for key in slot.completed:
            # A completed entry leaves only through its own Timer J: this one.
            if self._is_completed(key):
                del table[key]


@dataclass(frozen=True, slots=True, kw_only=True)
class Retransmit:
    """Timer E fired: send `data` again the way the request went (`destination`)."""

    key: ClientKey
    data: bytes
    destination: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TimedOut:
    """Timer F fired before a final response: the transaction is over, unanswered."""

    key: ClientKey
    destination: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Completed:
    """The first final response: `response` is the parsed one, or None when it was
    matched on its raw bytes (`status` is then all the TU gets)."""

    key: ClientKey
    status: int
    response: SipResponse | None = None
    destination: Any = None


_TRYING, _PROCEEDING, _COMPLETED = State.TRYING, State.PROCEEDING, State.COMPLETED  # hot path
_Completed = frozen_builder(Completed)  # one per answered request: no frozen __init__
_Retransmit = frozen_builder(Retransmit)


class _ClientTx:
    __slots__ = (
        "data", "deadline", "destination", "interval", "reliable", "slot", "state", "timer_f",
    )  # fmt: skip

    def __init__(
        self, data: bytes, reliable: bool, destination: Any, interval: float, timer_f: float
    ) -> None:
        self.state = _TRYING
        self.data = data
        self.reliable = reliable
        self.destination = destination
        self.interval = interval  # Timer E's current interval
        self.timer_f = timer_f
        self.deadline = 0.0  # its next timer (Timer E, F or K), exact; set by _file
        self.slot = 0  # the time slot that timer is filed in


class ClientTransactions:
    """The table of non-INVITE client transactions (requests sipfleet sends: OPTIONS
    keep-alive probes, NOTIFYs). Sans-IO: the caller sends, tells the time, and carries
    out the effects; `destination` is whatever it needs for that (opaque here).

    Sized for the presence fan-out (a thousand NOTIFYs per state change, nearly all
    answered long before their first Timer E): each transaction's next timer is filed by
    key in a slot of `granularity` seconds (a dict per slot, a heap of slot numbers), so
    an answer takes it out of its slot in O(1) and no dead timer is left behind. A timer
    fires when `handle_timer` is first called at or after the end of its slot (up to
    `granularity` late, never early); the next Timer E counts from the exact deadline,
    so retransmissions do not drift.
    """

    def __init__(self, timers: Timers = Timers(), *, granularity: float = 0.01) -> None:
        if granularity <= 0:
            raise ValueError("granularity must be positive")
        self.timers = timers
        self.granularity = granularity
        self._table: dict[ClientKey, _ClientTx] = {}
        self._slots: dict[int, dict[ClientKey, _ClientTx]] = {}
        self._order: list[int] = []  # heap of the slot numbers in _slots

    def __len__(self) -> int:
        return len(self._table)

    def state(self, key: ClientKey) -> State:
        tx = self._table.get(key)
        return State.TERMINATED if tx is None else tx.state

    def start(
        self,
        branch: str,
        method: str,
        data: bytes,
        *,
        reliable: bool,
        now: float,
        timeout: float | None = None,
        destination: Any = None,
    ) -> ClientKey:
        """Track a request the caller has just sent: `data` are its bytes, `branch` the
        branch of its top Via. Timer F is `timeout` when given, else 64*T1 (§17.1.2.2);
        Timer E (UDP only) first fires after T1."""
        if not branch.startswith(BRANCH_MAGIC):
            raise ValueError("client requests need a z9hG4bK branch (§8.1.1.7)")
        key = (branch, method)
        table = self._table
        if key in table:
            raise ValueError("a transaction with this branch is already running")
        t1 = self.timers.t1
        timer_f = now + (64 * t1 if timeout is None else timeout)
        tx = table[key] = _ClientTx(data, reliable, destination, t1, timer_f)
        self._file(key, tx, timer_f if reliable or now + t1 > timer_f else now + t1)
        return key

    def cancel(self, key: ClientKey) -> None:
        """Forget `key` (its TU gave up): no effect will name it."""
        tx = self._table.pop(key, None)
        if tx is not None:
            self._unfile(key, tx)

    def clear(self) -> list[Any]:
        """Forget every transaction; the destinations of those still waiting for a final
        response (to tell their TUs)."""
        waiting = [tx.destination for tx in self._table.values() if tx.state is not _COMPLETED]
        self._table.clear()
        self._slots.clear()
        self._order.clear()
        return waiting

    def receive(
        self, key: ClientKey, status: int, now: float, response: SipResponse | None = None
    ) -> Completed | None:
        """A response whose key (§17.1.3, `sipcore.response_match`) is `key`: the
        §17.1.2.2 transitions. Completed for the first final response; None for a 1xx,
        an absorbed retransmission of the final one, or no matching transaction."""
        tx = self._table.get(key)
        if tx is None or tx.state is _COMPLETED:
            return None
        if status < 200:
            if tx.state is _TRYING:
                tx.state = _PROCEEDING
                if not tx.reliable:  # §17.1.2.2: from now on retransmit every T2
                    tx.interval = self.timers.t2
            return None
        tx.state = _COMPLETED
        tx.data = b""
        bucket = self._slots.get(tx.slot)  # its Timer E/F: not needed any more
        if bucket is not None:
            bucket.pop(key, None)
        t4 = self.timers.t4
        if tx.reliable or t4 <= 0:  # Timer K is 0
            del self._table[key]
        else:
            self._file(key, tx, now + t4)
        return _Completed(key=key, status=status, response=response, destination=tx.destination)

    def receive_response(self, response: SipResponse, now: float) -> Completed | None:
        """`receive` of a parsed response (None when its key cannot be read)."""
        key = response_key(response)
        if key is None:
            return None
        return self.receive(key, response.status, now, response)

    def handle_timer(self, now: float) -> list[Retransmit | TimedOut]:
        """Fire the timers of the slots ended by `now`: Timer E → Retransmit, Timer F →
        TimedOut (the transaction is gone), Timer K frees a completed one silently."""
        effects: list[Retransmit | TimedOut] = []
        order, slots, table, width = self._order, self._slots, self._table, self.granularity
        t2 = self.timers.t2
        while order and order[0] * width <= now:
            bucket = slots.pop(heapq.heappop(order), None)
            if not bucket:
                continue
            for key, tx in bucket.items():
                when = tx.deadline
                if tx.state is _COMPLETED:  # Timer K
                    del table[key]
                elif when >= tx.timer_f:  # Timer F
                    del table[key]
                    effects.append(TimedOut(key=key, destination=tx.destination))
                else:  # Timer E
                    effects.append(_Retransmit(key=key, data=tx.data, destination=tx.destination))
                    if tx.state is _TRYING:
                        tx.interval = min(2 * tx.interval, t2)
                    self._file(key, tx, min(when + tx.interval, tx.timer_f))
        return effects

    def next_deadline(self) -> float | None:
        """When `handle_timer` next has something to do — the end of the first slot that
        still files a timer (None: nothing is running)."""
        order, slots = self._order, self._slots
        while order:
            if slots.get(order[0]):
                return order[0] * self.granularity
            slots.pop(heapq.heappop(order), None)  # emptied by answers
        return None

    def _file(self, key: ClientKey, tx: _ClientTx, deadline: float) -> None:
        """File `tx`'s next timer in the slot whose end is the first at or after it."""
        width = self.granularity
        number = math.ceil(deadline / width)
        if number * width < deadline:  # a rounded quotient: never fire early
            number += 1
        bucket = self._slots.get(number)
        if bucket is None:
            bucket = self._slots[number] = {}
            heapq.heappush(self._order, number)
        bucket[key] = tx
        tx.deadline = deadline
        tx.slot = number

    def _unfile(self, key: ClientKey, tx: _ClientTx) -> None:
        bucket = self._slots.get(tx.slot)
        if bucket is not None:
            bucket.pop(key, None)
