"""The message bus between inventory sources and the core (the seed's middleware).

Sources publish canonical inventory events through a `Publisher`, which stamps
each with a per-stream sequence number (stream = source × sku × location). The consumer
side, `MessageBus.deliver`, applies each event exactly once:

- a duplicate delivery (same event id) is counted and dropped;
- an event ahead of its stream is held until its predecessor arrives; if it
  waits past `hold_timeout_s` it goes to the dead-letter queue and the stream
  moves past it;
- a handler failure is retried with exponential backoff, then dead-lettered;
- dead letters can be inspected and replayed; replaying is idempotent.

Nothing here sleeps: time comes from the `Clock`, and `poll()` runs whatever is
due (retries, hold time-outs); `next_due()` tells a scheduler when to call it.

`deliver_envelope` does the same for an `Envelope` (many locations' lines at once),
sub-stream by sub-stream but with array operations: each sub-stream is one event of
the KPI contract (stream = source × stream code, sequence numbers from 1, idempotency
keys unique per source). The sub-streams that are next in their streams are applied
together, as one envelope; duplicates are dropped, streams ahead are held (as
envelopes of one sub-stream), late ones are dead-lettered, each counted per sub-stream.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .clock import Clock
from .envelope import Envelope, EnvelopePublisher
from .errors import InvalidCommand, InvalidEvent

SCHEMA_VERSION = 1

#: event types that carry many lines (`attrs.skus`, `attrs.qtys`) for one location:
#: `sku` is -1 and `qty` the total; a POS sends a till's sales of an interval as one
BATCH_TYPES = frozenset({"stock.sold.batch"})

EVENT_TYPES = (
    "stock.opening",
    "stock.received",
    "stock.sold",
    "stock.sold.batch",
    "stock.adjusted",
    "stock.shrink",
    "transfer.shipped",
    "transfer.received",
    "transfer.lost",
    "return.received",
    "return.disposed",
    "order.shipped",
)


@dataclass(slots=True, frozen=True)
class InventoryEvent:
    """A canonical inventory event: the contract every source and the core share."""

    event_id: str  # the idempotency key
    type: str
    source: str
    sku: int
    location: int
    seq: int  # position in the (sku, location) stream, from 1
    qty: int
    occurred_at: float
    schema_version: int = SCHEMA_VERSION
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def stream(self) -> tuple[str, int, int]:
        """Sequence numbers are stamped per source, so a stream is source × sku × location."""
        return (self.source, self.sku, self.location)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InventoryEvent:
        """Validate an external (JSON) event; every problem is reported by field."""
        problems: list[str] = []

        def need(
            name: str,
            kind: type | tuple[type, ...],
            check: Callable[[Any], bool] | None = None,
            rule: str = "",
        ) -> Any:
            if name not in d:
                problems.append(f"{name}: required")
                return None
            v = d[name]
            if isinstance(v, bool) or not isinstance(v, kind):
                names = (
                    kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
                )
                problems.append(f"{name}: must be {names}, got {type(v).__name__}")
                return None
            if check is not None and not check(v):
                problems.append(f"{name}: {rule}, got {v!r}")
                return None
            return v

        event_id = need("event_id", str, lambda v: bool(v.strip()), "must not be empty")
        etype = need(
            "type", str, lambda v: v in EVENT_TYPES, "must be one of " + ", ".join(EVENT_TYPES)
        )
        source = need("source", str, lambda v: bool(v.strip()), "must not be empty")
        batch = etype in BATCH_TYPES
        if batch:
            sku = need("sku", int, lambda v: v == -1, "must be -1 for a batch event")
        else:
            sku = need("sku", int, lambda v: v >= 0, "must be >= 0")
        loc = need("location", int, lambda v: v >= 0, "must be >= 0")
        seq = need("seq", int, lambda v: v >= 1, "must be >= 1")
        qty = need("qty", int)
        at = need("occurred_at", (int, float), lambda v: v == v, "must be a number")
        version = d.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            problems.append(f"schema_version: only {SCHEMA_VERSION} is understood, got {version!r}")
        attrs = d.get("attrs", {})
        if not isinstance(attrs, Mapping):
            problems.append("attrs: must be an object")
        if batch and isinstance(attrs, Mapping):
            problems.extend(_batch_problems(attrs, qty))
        if qty is not None and etype is not None and etype != "stock.adjusted" and qty <= 0:
            problems.append(f"qty: must be > 0 for {etype}, got {qty}")
        if qty == 0 and etype == "stock.adjusted":
            problems.append(f"qty: must not be 0 for {etype}, got 0")
        if problems:
            raise InvalidEvent(problems)
        attrs = dict(attrs)
        if batch:
            attrs["skus"], attrs["qtys"] = tuple(attrs["skus"]), tuple(attrs["qtys"])
        return cls(event_id, etype, source, sku, loc, seq, qty, float(at), version, attrs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "source": self.source,
            "sku": self.sku,
            "location": self.location,
            "seq": self.seq,
            "qty": self.qty,
            "occurred_at": self.occurred_at,
            "schema_version": self.schema_version,
            "attrs": dict(self.attrs),
        }


def _batch_problems(attrs: Mapping[str, Any], qty: Any) -> list[str]:
    """What is wrong with a batch event's lines, by field."""
    out = []
    cols = {}
    for name in ("skus", "qtys"):
        v = attrs.get(name)
        if not isinstance(v, list | tuple) or not v:
            out.append(f"attrs.{name}: required, a non-empty list of whole numbers")
        elif not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            out.append(f"attrs.{name}: must hold whole numbers only")
        else:
            cols[name] = v
    if len(cols) == 2:
        skus, qtys = cols["skus"], cols["qtys"]
        if len(skus) != len(qtys):
            out.append(f"attrs.qtys: {len(qtys)} quantities for {len(skus)} skus")
        if any(x < 0 for x in skus):
            out.append("attrs.skus: must be >= 0")
        if any(x <= 0 for x in qtys):
            out.append("attrs.qtys: must be > 0")
        if isinstance(qty, int) and qty != sum(qtys):
            out.append(f"qty: must be the total of attrs.qtys ({sum(qtys)}), got {qty}")
    return out


@dataclass(slots=True)
class BusCounters:
    """The `events` block of the KPI contract."""

    emitted: int = 0
    applied: int = 0
    duplicates_dropped: int = 0
    out_of_order_held: int = 0
    dead_lettered: int = 0
    replayed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "emitted": self.emitted,
            "applied": self.applied,
            "duplicates_dropped": self.duplicates_dropped,
            "out_of_order_held": self.out_of_order_held,
            "dead_lettered": self.dead_lettered,
            "replayed": self.replayed,
        }


@dataclass(slots=True)
class DeadLetter:
    event: InventoryEvent | Envelope
    reason: str
    at: float
    attempts: int
    replayed_at: float | None = None

    @property
    def n_events(self) -> int:
        """Events it holds: one, or an envelope's sub-streams."""
        return self.event.n_streams if isinstance(self.event, Envelope) else 1


@dataclass(slots=True)
class _Source:
    """The bus's state of one envelope source: next seq per stream code and the keys seen."""

    expected: np.ndarray = field(default_factory=lambda: np.ones(0, dtype=np.int64))
    applied: set[int] = field(default_factory=set)
    waiting: set[int] = field(default_factory=set)  # held or waiting for a retry
    dead: set[int] = field(default_factory=set)  # in the dead-letter queue (replayed or not)
    held: dict[tuple[int, int], Envelope] = field(default_factory=dict)  # (code, seq)

    def grow(self, codes: np.ndarray) -> None:
        top = int(codes.max()) + 1
        if top > len(self.expected):
            more = np.ones(top - len(self.expected), dtype=np.int64)
            self.expected = np.concatenate([self.expected, more])

    def seen(self, key: int) -> bool:
        return key in self.applied or key in self.waiting or key in self.dead


@dataclass(slots=True)
class _Stream:
    expected: int = 1
    held: dict[int, InventoryEvent] = field(default_factory=dict)
    skipped: set[int] = field(default_factory=set)


class Publisher:
    """A source's outbox: stamps ids and per-stream sequence numbers, counts what it emits."""

    def __init__(self, source: str, counters: BusCounters) -> None:
        self.source = source
        self.counters = counters
        self._seq: dict[tuple[int, int], int] = {}
        self._n = 0

    def emit(
        self, type: str, sku: int, location: int, qty: int, occurred_at: float, **attrs: Any
    ) -> InventoryEvent:
        key = (sku, location)
        seq = self._seq.get(key, 0) + 1
        self._seq[key] = seq
        self._n += 1
        self.counters.emitted += 1
        return InventoryEvent(
            f"{self.source}:{self._n}",
            type,
            self.source,
            sku,
            location,
            seq,
            qty,
            occurred_at,
            SCHEMA_VERSION,
            attrs,
        )


Handler = Callable[[InventoryEvent], None]
EnvelopeHandler = Callable[[Envelope], object]


_OUTCOMES = ("applied", "duplicate", "held", "dead-lettered", "retrying")


class MessageBus:
    """Idempotent, sequenced consumer in front of a handler.

    `subscribe(fn)` lets others watch: `fn(event)` runs once for every event the handler
    applied, by whichever path (in order, released from a hold, retried or replayed),
    after the bus has recorded it as applied.
    """

    def __init__(
        self,
        handler: Handler,
        clock: Clock,
        *,
        hold_timeout_s: float = 3600.0,
        max_attempts: int = 4,
        backoff_s: float = 30.0,
        envelope_handler: EnvelopeHandler | None = None,
    ) -> None:
        if hold_timeout_s <= 0:
            raise ValueError(f"hold_timeout_s: must be > 0, got {hold_timeout_s}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts: must be >= 1, got {max_attempts}")
        if backoff_s < 0:
            raise ValueError(f"backoff_s: must be >= 0, got {backoff_s}")
        self.handler = handler
        self.clock = clock
        self.hold_timeout_s = hold_timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.counters = BusCounters()
        self.dead_letters: dict[str, DeadLetter] = {}
        self._applied: set[str] = set()
        self._in_flight: set[str] = set()  # held or waiting for a retry
        self._streams: dict[tuple[str, int, int], _Stream] = {}
        self._publishers: dict[str, Publisher] = {}
        # (due, tiebreak, kind, payload): kind 0 = hold time-out, 1 = retry
        self._timers: list[tuple[float, int, int, Any]] = []
        self._tiebreak = 0
        self._attempts: dict[str, int] = {}
        self._subscribers: list[Handler] = []
        self.envelope_handler = envelope_handler
        self._sources: dict[str, _Source] = {}
        self._envelope_publishers: dict[str, EnvelopePublisher] = {}
        self._envelope_subscribers: list[Callable[[Envelope], None]] = []

    def subscribe(self, fn: Handler) -> None:
        """Call `fn(event)` after every event the handler applies, in the order applied."""
        self._subscribers.append(fn)

    def subscribe_envelopes(self, fn: Callable[[Envelope], None]) -> None:
        """Call `fn(envelope)` after every envelope the handler applies, in that order."""
        self._envelope_subscribers.append(fn)

    def envelope_publisher(self, source: str) -> EnvelopePublisher:
        """The envelope outbox of `source` (one per source: keys and seqs never repeat)."""
        pub = self._envelope_publishers.get(source)
        if pub is None:
            pub = self._envelope_publishers[source] = EnvelopePublisher(source, self.counters)
        return pub

    def publisher(self, source: str) -> Publisher:
        """The outbox of `source` (one per source, so ids and sequence numbers never repeat)."""
        pub = self._publishers.get(source)
        if pub is None:
            pub = self._publishers[source] = Publisher(source, self.counters)
        return pub

    # -- delivery ------------------------------------------------------------------
    def deliver(self, ev: InventoryEvent) -> str:
        """Hand one delivery to the consumer; returns what happened to it."""
        eid = ev.event_id
        if eid in self._applied or eid in self._in_flight or eid in self.dead_letters:
            self.counters.duplicates_dropped += 1
            return "duplicate"
        st = self._streams.get(ev.stream)
        if st is None:
            st = self._streams[ev.stream] = _Stream()
        if ev.seq < st.expected:
            self._dead_letter(ev, f"late: stream already past seq {ev.seq}", 0)
            return "dead-lettered"
        if ev.seq > st.expected:
            if ev.seq in st.held:
                self._dead_letter(ev, f"sequence conflict: seq {ev.seq} already held", 0)
                return "dead-lettered"
            st.held[ev.seq] = ev
            self._in_flight.add(eid)
            self.counters.out_of_order_held += 1
            self._timer(self.clock.now() + self.hold_timeout_s, 0, ev)
            return "held"
        return self._run(ev, st)

    def _run(self, ev: InventoryEvent, st: _Stream) -> str:
        """Apply the stream's next event, then any held successors it unblocks."""
        outcome = self._attempt(ev, st)
        if outcome != "applied":
            return outcome
        self._advance(st)
        return outcome

    def _attempt(self, ev: InventoryEvent, st: _Stream | None) -> str:
        eid = ev.event_id
        try:
            self.handler(ev)
        except Exception as exc:  # the handler is foreign code: any failure is retried
            n = self._attempts.get(eid, 0) + 1
            self._attempts[eid] = n
            if n >= self.max_attempts:
                self._in_flight.discard(eid)
                self._attempts.pop(eid, None)
                self._dead_letter(ev, f"handler failed {n}x: {exc}", n)
                if st is not None:
                    st.skipped.add(ev.seq)
                    self._advance(st)
                return "dead-lettered"
            self._in_flight.add(eid)
            self._timer(self.clock.now() + self.backoff_s * 2 ** (n - 1), 1, ev)
            return "retrying"
        self._in_flight.discard(eid)
        self._attempts.pop(eid, None)
        self._applied.add(eid)
        self.counters.applied += 1
        if st is not None and ev.seq >= st.expected:
            st.expected = ev.seq + 1
        for fn in self._subscribers:
            fn(ev)
        return "applied"

    def _advance(self, st: _Stream) -> None:
        while True:
            if st.expected in st.skipped:
                st.skipped.discard(st.expected)
                st.expected += 1
                continue
            nxt = st.held.pop(st.expected, None)
            if nxt is None:
                return
            if self._attempt(nxt, st) != "applied":
                return  # retrying (stream waits) or dead-lettered (already advanced)

    def _dead_letter(self, ev: InventoryEvent | Envelope, reason: str, attempts: int) -> None:
        dl = DeadLetter(ev, reason, self.clock.now(), attempts)
        self.dead_letters[ev.event_id] = dl
        self.counters.dead_lettered += dl.n_events

    def _timer(self, due: float, kind: int, ev: Any) -> None:
        self._tiebreak += 1
        heapq.heappush(self._timers, (due, self._tiebreak, kind, ev))

    # -- envelopes -------------------------------------------------------------------
    def deliver_any(self, msg: InventoryEvent | Envelope) -> str | dict[str, int]:
        """`deliver` an event or `deliver_envelope` an envelope (a middleware carries both)."""
        return self.deliver_envelope(msg) if isinstance(msg, Envelope) else self.deliver(msg)

    def deliver_envelope(self, env: Envelope) -> dict[str, int]:
        """Hand one envelope to the consumer; returns how many of its sub-streams were
        applied, dropped as duplicates, held, dead-lettered or left waiting for a retry."""
        if self.envelope_handler is None:
            raise InvalidCommand("envelope_handler: this bus has none to apply envelopes")
        src = self._sources.get(env.source)
        if src is None:
            src = self._sources[env.source] = _Source()
        out = dict.fromkeys(_OUTCOMES, 0)
        codes = env.stream
        try:
            expected = src.expected[codes]
        except IndexError:  # a stream the bus has not seen yet
            src.grow(codes)
            expected = src.expected[codes]
        keys = env.key.tolist()
        k = len(keys)
        if (
            (env.seq == expected).all()
            and len(set(codes.tolist())) == k
            and len(set(keys)) == k
            and src.applied.isdisjoint(keys)
            and (not src.waiting or src.waiting.isdisjoint(keys))
            and (not src.dead or src.dead.isdisjoint(keys))
        ):  # the usual case: every sub-stream is next in its stream
            out[self._attempt_envelope(env, src, keys)] += k
            if src.held:
                self._release(src, out)
            return out
        return self._sort_out(env, src, out)

    def _sort_out(self, env: Envelope, src: _Source, out: dict[str, int]) -> dict[str, int]:
        """Sub-stream by sub-stream: drop duplicates, dead-letter late ones, hold those
        ahead, apply the rest together (a stream's sub-streams in sequence order)."""
        codes, seqs, keys = env.stream.tolist(), env.seq.tolist(), env.key.tolist()
        first: dict[int, int] = {}
        for i, c in enumerate(codes):
            first.setdefault(c, i)
        order = sorted(range(len(codes)), key=lambda i: (first[codes[i]], seqs[i]))
        expect: dict[int, int] = {}
        seen: set[int] = set()
        ready: list[int] = []
        for i in order:
            c, q, key = codes[i], seqs[i], keys[i]
            if key in seen or src.seen(key):
                self.counters.duplicates_dropped += 1
                out["duplicate"] += 1
                continue
            seen.add(key)
            nxt = expect.get(c, int(src.expected[c]))
            if q < nxt:
                self._dead_letter(env.take([i]), f"late: stream already past seq {q}", 0)
                src.dead.add(key)
                out["dead-lettered"] += 1
            elif q > nxt:
                if (c, q) in src.held:
                    reason = f"sequence conflict: seq {q} already held"
                    self._dead_letter(env.take([i]), reason, 0)
                    src.dead.add(key)
                    out["dead-lettered"] += 1
                    continue
                part = src.held[(c, q)] = env.take([i])
                src.waiting.add(key)
                self.counters.out_of_order_held += 1
                out["held"] += 1
                self._timer(self.clock.now() + self.hold_timeout_s, 2, (env.source, c, q, part))
            else:
                expect[c] = q + 1
                ready.append(i)
        if ready:
            out[self._attempt_envelope(env.take(ready), src)] += len(ready)
        if src.held:
            self._release(src, out)
        return out

    def _attempt_envelope(self, env: Envelope, src: _Source, keys: list[int] | None = None) -> str:
        """Apply the sub-streams (each next in its stream); on failure retry the whole
        envelope with backoff (its streams wait), then dead-letter it (they move on)."""
        eid = env.event_id
        if keys is None:
            keys = env.key.tolist()
        assert self.envelope_handler is not None
        try:
            self.envelope_handler(env)
        except Exception as exc:  # the handler is foreign code: any failure is retried
            n = self._attempts.get(eid, 0) + 1
            self._attempts[eid] = n
            if n >= self.max_attempts:
                self._attempts.pop(eid, None)
                src.waiting.difference_update(keys)
                src.dead.update(keys)
                self._dead_letter(env, f"handler failed {n}x: {exc}", n)
                np.maximum.at(src.expected, env.stream, env.seq + 1)  # its streams move on
                return "dead-lettered"
            src.waiting.update(keys)
            self._timer(self.clock.now() + self.backoff_s * 2 ** (n - 1), 3, (env.source, env))
            return "retrying"
        self._attempts.pop(eid, None)
        if src.waiting:
            src.waiting.difference_update(keys)
        src.applied.update(keys)
        self.counters.applied += len(keys)
        np.maximum.at(src.expected, env.stream, env.seq + 1)
        for fn in self._envelope_subscribers:
            fn(env)
        return "applied"

    def _release(self, src: _Source, out: dict[str, int] | None = None) -> None:
        """Apply held sub-streams that are now next in their streams, in turn."""
        exp = src.expected
        while True:
            due = [cs for cs in src.held if cs[1] == exp[cs[0]]]
            if not due:
                return
            for cs in sorted(due):
                part = src.held.pop(cs)
                outcome = self._attempt_envelope(part, src)
                if out is not None:
                    out[outcome] += 1
            exp = src.expected

    def _envelope_timer(self, kind: int, payload: Any) -> None:
        """A hold time-out (kind 2) or a retry (kind 3) of an envelope, now due."""
        if kind == 3:
            source, env = payload
            src = self._sources[source]
            if src.waiting.issuperset(env.key.tolist()):
                self._attempt_envelope(env, src)
                self._release(src)
            return
        source, code, seq, part = payload
        src = self._sources[source]
        if src.held.get((code, seq)) is not part:
            return  # released in order before its time-out
        gap = int(src.expected[code])
        for c, q in sorted(cs for cs in src.held if cs[0] == code and cs[1] <= seq):
            late = src.held.pop((c, q))
            keys = late.key.tolist()
            src.waiting.difference_update(keys)
            src.dead.update(keys)
            self._dead_letter(late, f"held {self.hold_timeout_s:g}s waiting for seq {gap}", 0)
        src.expected[code] = max(gap, seq + 1)
        self._release(src)

    # -- time ----------------------------------------------------------------------
    def next_due(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def poll(self) -> int:
        """Run hold time-outs and retries that are due; returns how many ran."""
        now = self.clock.now()
        n = 0
        while self._timers and self._timers[0][0] <= now:
            _due, _tb, kind, ev = heapq.heappop(self._timers)
            if kind >= 2:
                self._envelope_timer(kind, ev)
                n += 1
                continue
            st = self._streams[ev.stream]
            if kind == 0:
                if st.held.get(ev.seq) is not ev:
                    continue  # released in order before its time-out
                # the stream gives up on the gap: this event and every held one before it
                # (they wait on the same missing predecessor) go to the dead-letter queue
                gap = st.expected
                for seq in sorted(s for s in st.held if s <= ev.seq):
                    late = st.held.pop(seq)
                    self._in_flight.discard(late.event_id)
                    self._dead_letter(
                        late, f"held {self.hold_timeout_s:g}s waiting for seq {gap}", 0
                    )
                st.expected = max(st.expected, ev.seq + 1)
                self._advance(st)
            else:
                if ev.event_id not in self._in_flight:
                    continue
                if self._attempt(ev, st) == "applied":
                    self._advance(st)
            n += 1
        return n

    def drain(self) -> None:
        """Run every timer regardless of time (end of a run): holds time out, retries finish."""
        while self._timers:
            due = self._timers[0][0]
            if due > self.clock.now() and hasattr(self.clock, "set"):
                self.clock.set(due)  # type: ignore[attr-defined]
            elif due > self.clock.now():
                break
            self.poll()

    # -- dead letters ----------------------------------------------------------------
    def outstanding_dead_letters(self) -> list[DeadLetter]:
        return [d for d in self.dead_letters.values() if d.replayed_at is None]

    def replay(self, event_id: str | None = None) -> int:
        """Apply dead letters again (one, or all outstanding in arrival order); idempotent."""
        if event_id is not None and event_id not in self.dead_letters:
            raise InvalidCommand(f"event_id: {event_id!r} is not in the dead-letter queue")
        targets = (
            [self.dead_letters[event_id]]
            if event_id is not None
            else self.outstanding_dead_letters()
        )
        n = 0
        for dl in targets:
            if dl.replayed_at is not None:
                continue
            ev = dl.event
            if isinstance(ev, Envelope):
                n += self._replay_envelope(dl, ev)
                continue
            if ev.event_id in self._applied:
                dl.replayed_at = self.clock.now()
                continue
            try:
                self.handler(ev)
            except Exception as exc:
                dl.reason = f"replay failed: {exc}"
                continue
            self._applied.add(ev.event_id)
            self.counters.applied += 1
            self.counters.replayed += 1
            dl.replayed_at = self.clock.now()
            n += 1
            for fn in self._subscribers:
                fn(ev)
        return n

    def _replay_envelope(self, dl: DeadLetter, env: Envelope) -> int:
        """Apply a dead-lettered envelope again, whole; returns 1 if it applied now."""
        src = self._sources[env.source]
        keys = env.key.tolist()
        if src.applied.issuperset(keys):
            dl.replayed_at = self.clock.now()
            return 0
        assert self.envelope_handler is not None
        try:
            self.envelope_handler(env)
        except Exception as exc:
            dl.reason = f"replay failed: {exc}"
            return 0
        src.applied.update(keys)
        self.counters.applied += len(keys)
        self.counters.replayed += len(keys)
        dl.replayed_at = self.clock.now()
        for fn in self._envelope_subscribers:
            fn(env)
        return 1

    # -- accounting ------------------------------------------------------------------
    def in_flight(self) -> int:
        """Events held or waiting for a retry (an envelope's sub-streams one each)."""
        return len(self._in_flight) + sum(len(s.waiting) for s in self._sources.values())

    def events_lost(self) -> int:
        """Emitted events neither applied, nor waiting in the bus, nor in the dead-letter queue."""
        waiting = self.in_flight() + sum(d.n_events for d in self.outstanding_dead_letters())
        return self.counters.emitted - self.counters.applied - waiting

    def has_applied(self, event_id: str) -> bool:
        return event_id in self._applied
