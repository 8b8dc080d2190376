"""What the run and comparison routes share: turning a request into a validated,
normalised job (every problem reported by field path), idempotent and atomic admission,
the job's public views (cached once a job is finished) and its artifacts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from scenarios import POLICY_NAMES, ScenarioError, catalog_names
from scenarios.describe import scenario_warnings
from twin.roadmap import STEP_NAMES, parse_order

from . import packages
from .db import ACTIVE, DONE, FINISHED, QUEUED, Admission, Database, Run, as_utc, utcnow
from .runner import Runner, build_scenario
from .schemas import ComparisonCreate, JobOut, JobSummary, Progress, RoadmapCreate, RunCreate
from .settings import Settings

PREFIX = {"run": "/v1/runs", "comparison": "/v1/comparisons", "roadmap": "/v1/roadmaps"}
JobCreate = RunCreate | ComparisonCreate | RoadmapCreate
PLOT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SEGMENT = re.compile(r"[^.\[\]]+|\[\d+\]")
#: how much of a user's bad value an error message repeats
SHOWN = 60


def clip(value: Any, limit: int = SHOWN) -> str:
    """A user's value as an error message shows it: its repr, cut to `limit` characters
    (a 10 MB name is not sent back in full)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def error(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg}


def path_segments(path: str) -> list[str | int]:
    return [int(s[1:-1]) if s.startswith("[") else s for s in _SEGMENT.findall(path)]


def scenario_problem(problem: str, where: list[Any]) -> dict[str, Any]:
    """A loader problem (`path: message`) as a FastAPI-style error with a field path."""
    path, sep, msg = problem.partition(": ")
    if not sep:
        return error(where, problem[:500], "scenario")
    if path.startswith("--set"):
        shown = path[6:].strip()
        return {**error(["body", "overrides"], problem[:500], "override"), "path": shown[:200]}
    loc = where if path == "(scenario)" else [*where, *path_segments(path)]
    return {**error(loc, msg[:500], "scenario"), "path": path[:200]}


def overrides_list(overrides: dict[str, Any] | list[str]) -> list[str]:
    if isinstance(overrides, list):
        return list(overrides)
    return [f"{k}={json.dumps(v)}" for k, v in overrides.items()]


def scenario_errors(
    ref: Any, overrides: Any, settings: Settings
) -> tuple[list[dict[str, Any]], Any, dict[str, Any]]:
    """Problems with the scenario part of a request (name, `extends`, every field, the
    overrides), the resolved scenario when there are none, and the normalised request.

    Also called with a body that failed its own validation, so a user sees every problem
    at once; `ref` and `overrides` are then whatever was sent."""
    errors: list[dict[str, Any]] = []
    names = catalog_names()
    if isinstance(ref, str) and ref.startswith(packages.PREFIX):
        if packages.scenario_file(settings, ref) is None:
            errors.append(
                error(
                    ["body", "scenario"],
                    f"no uploaded package {clip(ref)} (upload one with POST /v1/packages)",
                )
            )
    elif isinstance(ref, str) and ref not in names:
        errors.append(
            error(
                ["body", "scenario"],
                f"unknown scenario {clip(ref)}; choose from {', '.join(names)}",
            )
        )
    if isinstance(ref, dict) and "extends" in ref and ref["extends"] not in names:
        errors.append(
            error(
                ["body", "scenario", "extends"],
                f"must name a catalogue scenario ({', '.join(names)})",
            )
        )
    if not isinstance(overrides, dict | list):
        overrides = {}
    if len(overrides) > settings.max_overrides:
        errors.append(
            error(
                ["body", "overrides"],
                f"{len(overrides)} overrides; this service takes at most"
                f" {settings.max_overrides} (OMNITWIN_MAX_OVERRIDES)",
                "limit",
            )
        )
    if isinstance(overrides, list) and not all(isinstance(o, str) for o in overrides):
        overrides = []  # reported by the body's own validation
    request: dict[str, Any] = {"scenario": ref, "overrides": overrides_list(overrides)}
    if errors or not isinstance(ref, str | dict):
        return errors, None, request
    try:
        sc = build_scenario(request, settings)
    except ScenarioError as exc:
        return [scenario_problem(p, ["body", "scenario"]) for p in exc.problems], None, request
    where = ["body", "scenario"]
    if sc.network.package is not None:
        # only an uploaded package's own files; then whatever disagrees with them (counts
        # changed by an override, a replay outside the history) is named before a run
        errors += packages.owns(settings, ref, sc)
        if errors:
            return errors, None, request
        try:
            from twin.data.network import check_scenario

            check_scenario(sc)
        except ScenarioError as exc:
            return [scenario_problem(p, where) for p in exc.problems], None, request
    if sc.horizon_days > settings.max_horizon_days:
        errors.append(
            _limit([*where, "horizon_days"], "horizon_days", settings.max_horizon_days, "days")
        )
    if sc.network.stores.count > settings.max_stores:
        errors.append(_limit([*where, "network", "stores", "count"], "stores", settings.max_stores))
    if sc.skus.count > settings.max_skus:
        errors.append(_limit([*where, "skus", "count"], "skus", settings.max_skus))
    return errors, sc, request


def prepare(kind: str, body: JobCreate, settings: Settings) -> tuple[dict[str, Any], str, int]:
    """The normalised request, its scenario's name and its replications in total; raises a
    422 listing every problem by field path."""
    errors, sc, request = scenario_errors(body.scenario, body.overrides, settings)
    request["seed"] = body.seed
    if isinstance(body, RunCreate):
        policy = body.policy or (sc.policy.operating_model if sc else "legacy")
        if policy not in POLICY_NAMES:
            errors.append(
                error(["body", "policy"], f"unknown policy {clip(policy)}; choose from {_pols()}")
            )
        request["policy"] = policy
        n_policies = 1
    elif isinstance(body, RoadmapCreate):
        try:
            order = parse_order(body.order)
        except ScenarioError as exc:
            errors += [error(["body", "order"], p.removeprefix("--order: ")) for p in exc.problems]
            order = "seed"
        request["order"] = order
        k = len(STEP_NAMES)
        n_policies = 1 + k + (k * (k - 1) // 2 if order == "greedy" else k - 1)
    else:
        for i, p in enumerate(body.policies):
            if p not in POLICY_NAMES:
                errors.append(
                    error(
                        ["body", "policies", i], f"unknown policy {clip(p)}; choose from {_pols()}"
                    )
                )
        if len(set(body.policies)) != len(body.policies):
            errors.append(error(["body", "policies"], "name each policy once"))
        if len(body.policies) > settings.max_policies:
            errors.append(_limit(["body", "policies"], "policies", settings.max_policies))
        request["policies"] = list(body.policies)
        n_policies = len(body.policies)
    reps = body.replications or (sc.replications if sc else 1)
    request["replications"] = reps
    if reps > settings.max_replications:
        errors.append(_limit(["body", "replications"], "replications", settings.max_replications))
    if errors or sc is None:
        raise RequestValidationError(errors)
    request["warnings"] = scenario_warnings(sc)
    return request, sc.name, reps * n_policies


def _pols() -> str:
    return ", ".join(POLICY_NAMES)


def _limit(loc: list[Any], what: str, limit: float, unit: str = "") -> dict[str, Any]:
    env = {"horizon_days": "MAX_HORIZON_DAYS"}.get(what, f"MAX_{what.upper()}")
    shown = f"{limit:g}" if isinstance(limit, float) else str(limit)
    return error(
        loc,
        f"over this service's limit: at most {shown}{' ' + unit if unit else ''} {what}"
        f" (OMNITWIN_{env})",
        "limit",
    )


def body_hash(body: JobCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _by_key(session: Session, kind: str, key: str) -> Run | None:
    return session.scalar(select(Run).where(Run.kind == kind, Run.idempotency_key == key))


def _replay(existing: Run, digest: str, key: str) -> Run:
    if existing.body_hash != digest:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"Idempotency-Key {clip(key)} was already used with a different body"
            f" (for {existing.kind} {existing.id}); use a new key for a new request",
        )
    return existing


def create(
    kind: str,
    body: JobCreate,
    db: Database,
    settings: Settings,
    runner: Runner,
    idempotency_key: str | None,
) -> tuple[Run, bool]:
    """A new queued job (submitted to the workers), or the one this key already made.

    Admission is atomic: the transaction first locks the admission row, then looks up the
    key, counts the active jobs and inserts, so a burst of submissions admits exactly the
    capacity, on SQLite and PostgreSQL alike."""
    digest = body_hash(body)
    if idempotency_key is not None:
        with db.session() as s:
            existing = _by_key(s, kind, idempotency_key)
            if existing is not None:
                return _replay(existing, digest, idempotency_key), False
    capacity = settings.max_concurrent_runs + settings.max_queued_runs
    with db.session() as s:  # a full queue sheds the request before validating it
        _refuse_if_full(s, capacity, settings)
    request, name, total = prepare(kind, body, settings)
    with db.session() as s:
        s.execute(
            update(Admission).where(Admission.id == 1).values(admitted=Admission.admitted + 1)
        )
        if idempotency_key is not None:
            existing = _by_key(s, kind, idempotency_key)
            if existing is not None:
                s.rollback()
                return _replay(existing, digest, idempotency_key), False
        try:
            _refuse_if_full(s, capacity, settings)
        except HTTPException:
            s.rollback()
            raise
        row = Run(
            id=uuid.uuid4().hex,
            kind=kind,
            status=QUEUED,
            scenario=name[:200],
            progress_done=0,
            progress_total=total,
            request=request,
            idempotency_key=idempotency_key,
            body_hash=digest,
            cancel_requested=False,
            created_at=utcnow(),
        )
        s.add(row)
        try:
            s.commit()
        except IntegrityError:  # the key was taken by a job of the other kind's race
            s.rollback()
            existing = _by_key(s, kind, idempotency_key or "")
            if existing is None:
                raise
            return _replay(existing, digest, idempotency_key or ""), False
    runner.submit(row.id)
    return row, True


def _refuse_if_full(s: Session, capacity: int, settings: Settings) -> None:
    active = s.scalar(select(func.count()).select_from(Run).where(Run.status.in_(ACTIVE)))
    if (active or 0) >= capacity:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many runs in progress: {active} queued or running, the limit is"
            f" {capacity} (OMNITWIN_MAX_CONCURRENT_RUNS={settings.max_concurrent_runs} +"
            f" OMNITWIN_MAX_QUEUED_RUNS={settings.max_queued_runs}); retry later",
            headers={"Retry-After": "5"},
        )


# ------------------------------------------------------------------------------ views
@dataclass(frozen=True, slots=True)
class Head:
    """What the file routes need of a job: no result object loaded."""

    id: str
    kind: str
    status: str
    artifacts: str | None


def head_or_404(db: Database, kind: str, job_id: str, cache: ViewCache | None = None) -> Head:
    if cache is not None and (hit := cache.head(job_id)) is not None and hit.kind == kind:
        return hit
    row = None
    if len(job_id) <= 32:
        with db.session() as s:
            row = s.execute(
                select(Run.id, Run.kind, Run.status, Run.artifacts).where(Run.id == job_id)
            ).first()
    if row is None or row.kind != kind:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {kind} with id {clip(job_id)}")
    head = Head(row.id, row.kind, row.status, row.artifacts)
    if cache is not None:
        cache.put(head)
    return head


def get_or_404(session: Session, kind: str, job_id: str) -> Run:
    row = session.get(Run, job_id) if len(job_id) <= 32 else None
    if row is None or row.kind != kind:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {kind} with id {clip(job_id)}")
    return row


def plots_of(job: Run | Head) -> list[str]:
    if job.status != DONE or not job.artifacts:
        return []
    return sorted(p.stem for p in Path(job.artifacts).glob("*.png"))


def links(row: Run) -> dict[str, str]:
    base = f"{PREFIX[row.kind]}/{row.id}"
    out = {"self": base, "events": f"{base}/events"}
    if row.status == DONE:
        out |= {"series": f"{base}/series", "report": f"{base}/report", "plots": f"{base}/plots"}
    return out


def _progress(row: Run) -> Progress:
    total = row.progress_total or 0
    done = row.progress_done or 0
    return Progress(done=done, total=total, fraction=done / total if total else 0.0)


def _shown_request(row: Run) -> dict[str, Any]:
    return {k: v for k, v in row.request.items() if k != "warnings"}


def _common(row: Run) -> dict[str, Any]:
    """What a job's summary and its full view share."""
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "scenario": row.scenario,
        "progress": _progress(row),
        "created_at": as_utc(row.created_at),
        "started_at": as_utc(row.started_at),
        "finished_at": as_utc(row.finished_at),
        "duration_seconds": row.duration_seconds,
        "error": row.error,
        "links": links(row),
    }


def view(row: Run) -> JobOut:
    return JobOut(
        **_common(row),
        request=_shown_request(row),
        warnings=list(row.request.get("warnings") or []),
        result=row.result if row.status == DONE else None,
        plots=plots_of(row),
    )


def summary(row: Run) -> JobSummary:
    request = _shown_request(row)
    if isinstance(request.get("scenario"), dict):
        request["scenario"], request["inline"] = row.scenario, True
    return JobSummary(**_common(row), request=request)


class ViewCache:
    """Finished jobs never change: their JSON view and head, and their small files, kept
    in memory (least recently used out), so a dashboard polling them costs no database
    round trip, no serialisation and no file read. Safe with several server processes:
    each caches what cannot change."""

    def __init__(self, capacity: int = 512, file_bytes: int = 64 * 2**20) -> None:
        self.capacity = capacity
        self.file_bytes = file_bytes
        self._items: OrderedDict[str, tuple[Head, bytes | None]] = OrderedDict()
        self._files: OrderedDict[Path, bytes] = OrderedDict()
        self._files_size = 0
        self._lock = threading.Lock()

    def cached_file(self, path: Path) -> bytes | None:
        with self._lock:
            data = self._files.get(path)
            if data is not None:
                self._files.move_to_end(path)
            return data

    def file(self, path: Path) -> bytes:
        """A finished job's file (report, series, plot), read once."""
        data = self.cached_file(path)
        if data is not None:
            return data
        data = path.read_bytes()
        if len(data) <= self.file_bytes // 16:
            with self._lock:
                if path not in self._files:
                    self._files[path] = data
                    self._files_size += len(data)
                while self._files_size > self.file_bytes:
                    _, old = self._files.popitem(last=False)
                    self._files_size -= len(old)
        return data

    def get(self, job_id: str) -> tuple[Head, bytes] | None:
        """A finished job's head and JSON view, if both are cached."""
        with self._lock:
            item = self._items.get(job_id)
            if item is None or item[1] is None:
                return None
            self._items.move_to_end(job_id)
            return item[0], item[1]

    def head(self, job_id: str) -> Head | None:
        with self._lock:
            item = self._items.get(job_id)
            return None if item is None else item[0]

    def put(self, head: Head, body: bytes | None = None) -> None:
        """Keep a finished job's head (and its view, when given); others are not kept."""
        if head.status not in FINISHED:
            return
        with self._lock:
            old = self._items.get(head.id)
            if body is None and old is not None:
                body = old[1]
            self._items[head.id] = (head, body)
            self._items.move_to_end(head.id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


def view_json(db: Database, cache: ViewCache, kind: str, job_id: str) -> bytes:
    """The job's view as JSON bytes, from the cache once it is finished."""
    hit = cache.get(job_id)
    if hit is not None and hit[0].kind == kind:
        return hit[1]
    with db.session() as s:
        row = get_or_404(s, kind, job_id)
        out = view(row)
    body = out.model_dump_json().encode()
    cache.put(Head(row.id, row.kind, row.status, row.artifacts), body)
    return body


def cancel(db: Database, runner: Runner, kind: str, job_id: str) -> JobOut:
    with db.session() as s:
        row = get_or_404(s, kind, job_id)
        if row.status in FINISHED:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"{kind} {job_id} is already {row.status}; only a queued or running {kind} can"
                " be cancelled",
            )
    runner.cancel(job_id)
    with db.session() as s:
        return view(get_or_404(s, kind, job_id))


# ------------------------------------------------------------------------------ artifacts
def folder_of(job: Head) -> Path:
    if job.status != DONE or not job.artifacts:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{job.kind} {job.id} is {job.status}; its files exist once it is done",
        )
    folder = Path(job.artifacts).resolve()
    if not folder.is_dir():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the files of {job.kind} {job.id} are gone")
    return folder


def artifact(job: Head, filename: str) -> Path:
    """A file inside the job's folder, never outside it."""
    folder = folder_of(job)
    path = (folder / filename).resolve()
    if path.parent != folder or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {clip(filename)} for {job.id}")
    return path


def plot_path(job: Head, name: str) -> Path:
    if not PLOT_NAME.match(name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plot {clip(name)}")
    return artifact(job, f"{name}.png")


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "").lower()
    return "text/csv" in accept and "application/json" not in accept


# ------------------------------------------------------------------------------ events
def _snapshot(db: Database, cache: ViewCache, kind: str, job_id: str) -> dict[str, Any] | None:
    hit = cache.get(job_id)
    if hit is not None and hit[0].kind == kind:
        return _event_of(json.loads(hit[1]))
    with db.session() as s:
        row = s.execute(
            select(
                Run.id,
                Run.kind,
                Run.status,
                Run.progress_done,
                Run.progress_total,
                Run.error,
            ).where(Run.id == job_id)
        ).first()
    if row is None or row.kind != kind:
        return None
    total = row.progress_total or 0
    done = row.progress_done or 0
    return {
        "id": row.id,
        "status": row.status,
        "done": done,
        "total": total,
        "fraction": done / total if total else 0.0,
        "error": row.error,
    }


def _event_of(job: dict[str, Any]) -> dict[str, Any]:
    p = job["progress"]
    return {
        "id": job["id"],
        "status": job["status"],
        "done": p["done"],
        "total": p["total"],
        "fraction": p["fraction"],
        "error": job["error"],
    }


async def events(
    request: Request, db: Database, cache: ViewCache, kind: str, job_id: str, poll: float
) -> AsyncIterator[str]:
    """Server-sent events: `progress` whenever the state changes, then one final event
    (`done`, `failed` or `cancelled`) and the stream ends."""
    last = None
    n = 0
    yield "retry: 2000\n\n"
    while True:
        snap = await run_in_threadpool(_snapshot, db, cache, kind, job_id)
        if snap is None:
            return
        if snap != last:
            n += 1
            name = snap["status"] if snap["status"] in FINISHED else "progress"
            yield f"id: {n}\nevent: {name}\ndata: {json.dumps(snap)}\n\n"
            last = snap
        if snap["status"] in FINISHED:
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(poll)
