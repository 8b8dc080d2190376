"""What the run and comparison routes share: turning a request into a validated,
normalised job (every problem reported by field path), idempotency, the capacity
check, the job's public view and its artifacts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from scenarios import POLICY_NAMES, ScenarioError, catalog_names

from .db import ACTIVE, DONE, FINISHED, QUEUED, Database, Run, as_utc, utcnow
from .runner import Runner, build_scenario
from .schemas import ComparisonCreate, JobOut, Progress, RunCreate
from .settings import Settings

PREFIX = {"run": "/v1/runs", "comparison": "/v1/comparisons"}
PLOT_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SEGMENT = re.compile(r"[^.\[\]]+|\[\d+\]")


def error(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg}


def path_segments(path: str) -> list[str | int]:
    return [int(s[1:-1]) if s.startswith("[") else s for s in _SEGMENT.findall(path)]


def scenario_problem(problem: str, where: list[Any]) -> dict[str, Any]:
    """A loader problem (`path: message`) as a FastAPI-style error with a field path."""
    path, sep, msg = problem.partition(": ")
    if not sep:
        return error(where, problem, "scenario")
    if path.startswith("--set"):
        return {**error(["body", "overrides"], problem, "override"), "path": path[6:].strip()}
    loc = where if path == "(scenario)" else [*where, *path_segments(path)]
    return {**error(loc, msg, "scenario"), "path": path}


def overrides_list(overrides: dict[str, Any] | list[str]) -> list[str]:
    if isinstance(overrides, list):
        return list(overrides)
    return [f"{k}={json.dumps(v)}" for k, v in overrides.items()]


def prepare(
    kind: str, body: RunCreate | ComparisonCreate, settings: Settings
) -> tuple[dict[str, Any], str, int]:
    """The normalised request, its scenario's name and its replications in total; raises a
    422 listing every problem by field path."""
    errors: list[dict[str, Any]] = []
    names = catalog_names()
    ref = body.scenario
    if isinstance(ref, str) and ref not in names:
        errors.append(
            error(["body", "scenario"], f"unknown scenario {ref!r}; choose from {', '.join(names)}")
        )
    if isinstance(ref, dict) and "extends" in ref and ref["extends"] not in names:
        errors.append(
            error(
                ["body", "scenario", "extends"],
                f"must name a catalogue scenario ({', '.join(names)})",
            )
        )
    if errors:
        raise RequestValidationError(errors)
    request: dict[str, Any] = {
        "scenario": ref,
        "overrides": overrides_list(body.overrides),
        "seed": body.seed,
    }
    try:
        sc = build_scenario(request)
    except ScenarioError as exc:
        raise RequestValidationError(
            [scenario_problem(p, ["body", "scenario"]) for p in exc.problems]
        ) from None
    if isinstance(body, RunCreate):
        policy = body.policy or sc.policy.operating_model
        if policy not in POLICY_NAMES:
            errors.append(
                error(["body", "policy"], f"unknown policy {policy!r}; choose from {_pols()}")
            )
        request["policy"] = policy
        n_policies = 1
    else:
        for i, p in enumerate(body.policies):
            if p not in POLICY_NAMES:
                errors.append(
                    error(["body", "policies", i], f"unknown policy {p!r}; choose from {_pols()}")
                )
        if len(set(body.policies)) != len(body.policies):
            errors.append(error(["body", "policies"], "name each policy once"))
        if len(body.policies) > settings.max_policies:
            errors.append(_limit(["body", "policies"], "policies", settings.max_policies))
        request["policies"] = list(body.policies)
        n_policies = len(body.policies)
    reps = body.replications or sc.replications
    request["replications"] = reps
    if reps > settings.max_replications:
        errors.append(_limit(["body", "replications"], "replications", settings.max_replications))
    where = ["body", "scenario"]
    if sc.horizon_days > settings.max_horizon_days:
        errors.append(
            _limit([*where, "horizon_days"], "horizon_days", settings.max_horizon_days, "days")
        )
    if sc.network.stores.count > settings.max_stores:
        errors.append(_limit([*where, "network", "stores", "count"], "stores", settings.max_stores))
    if sc.skus.count > settings.max_skus:
        errors.append(_limit([*where, "skus", "count"], "skus", settings.max_skus))
    if errors:
        raise RequestValidationError(errors)
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


def body_hash(body: RunCreate | ComparisonCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _by_key(session: Session, kind: str, key: str) -> Run | None:
    return session.scalar(select(Run).where(Run.kind == kind, Run.idempotency_key == key))


def _replay(existing: Run, digest: str, key: str) -> Run:
    if existing.body_hash != digest:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                error(
                    ["header", "Idempotency-Key"],
                    f"Idempotency-Key {key!r} was already used with a different body"
                    f" (for {existing.kind} {existing.id}); use a new key for a new request",
                    "idempotency_conflict",
                )
            ],
        )
    return existing


def create(
    kind: str,
    body: RunCreate | ComparisonCreate,
    session: Session,
    settings: Settings,
    runner: Runner,
    idempotency_key: str | None,
) -> tuple[Run, bool]:
    """A new queued job (submitted to the workers), or the one this key already made."""
    digest = body_hash(body)
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= 200:
            raise RequestValidationError(
                [error(["header", "Idempotency-Key"], "must be 1 to 200 characters")]
            )
        existing = _by_key(session, kind, idempotency_key)
        if existing is not None:
            return _replay(existing, digest, idempotency_key), False
    request, name, total = prepare(kind, body, settings)
    active = session.scalar(select(func.count()).select_from(Run).where(Run.status.in_(ACTIVE)))
    capacity = settings.max_concurrent_runs + settings.max_queued_runs
    if (active or 0) >= capacity:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many runs in progress: {active} queued or running, the limit is {capacity}"
            f" (OMNITWIN_MAX_CONCURRENT_RUNS={settings.max_concurrent_runs} +"
            f" OMNITWIN_MAX_QUEUED_RUNS={settings.max_queued_runs}); retry later",
            headers={"Retry-After": "5"},
        )
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
    session.add(row)
    try:
        session.commit()
    except IntegrityError:  # the same key raced us
        session.rollback()
        existing = _by_key(session, kind, idempotency_key or "")
        if existing is None:
            raise
        return _replay(existing, digest, idempotency_key or ""), False
    runner.submit(row.id)
    return row, True


def get_or_404(session: Session, kind: str, job_id: str) -> Run:
    row = session.get(Run, job_id) if len(job_id) <= 32 else None
    if row is None or row.kind != kind:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {kind} with id {job_id!r}")
    return row


def plots_of(row: Run) -> list[str]:
    if row.status != DONE or not row.artifacts:
        return []
    return sorted(p.stem for p in Path(row.artifacts).glob("*.png"))


def links(row: Run) -> dict[str, str]:
    base = f"{PREFIX[row.kind]}/{row.id}"
    out = {"self": base, "events": f"{base}/events"}
    if row.status == DONE:
        out |= {"series": f"{base}/series", "report": f"{base}/report", "plots": f"{base}/plots"}
    return out


def view(row: Run) -> JobOut:
    total = row.progress_total or 0
    done = row.progress_done or 0
    return JobOut(
        id=row.id,
        kind=row.kind,
        status=row.status,
        scenario=row.scenario,
        progress=Progress(done=done, total=total, fraction=done / total if total else 0.0),
        created_at=as_utc(row.created_at),
        started_at=as_utc(row.started_at),
        finished_at=as_utc(row.finished_at),
        duration_seconds=row.duration_seconds,
        error=row.error,
        request=row.request,
        result=row.result if row.status == DONE else None,
        plots=plots_of(row),
        links=links(row),
    )


def cancel(session: Session, runner: Runner, kind: str, job_id: str) -> Run:
    row = get_or_404(session, kind, job_id)
    if row.status in FINISHED:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{kind} {job_id} is already {row.status}; only a queued or running {kind} can be"
            " cancelled",
        )
    runner.cancel(job_id)
    session.expire_all()
    return get_or_404(session, kind, job_id)


# ------------------------------------------------------------------------------ artifacts
def folder_of(row: Run) -> Path:
    if row.status != DONE or not row.artifacts:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{row.kind} {row.id} is {row.status}; its files exist once it is done",
        )
    folder = Path(row.artifacts).resolve()
    if not folder.is_dir():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the files of {row.kind} {row.id} are gone")
    return folder


def artifact(row: Run, filename: str) -> Path:
    """A file inside the job's folder, never outside it."""
    folder = folder_of(row)
    path = (folder / filename).resolve()
    if path.parent != folder or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {filename!r} for {row.id}")
    return path


def plot_path(row: Run, name: str) -> Path:
    if not PLOT_NAME.match(name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plot {name!r}")
    return artifact(row, f"{name}.png")


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "").lower()
    return "text/csv" in accept and "application/json" not in accept


# ------------------------------------------------------------------------------ events
def _snapshot(db: Database, kind: str, job_id: str) -> dict[str, Any] | None:
    with db.session() as s:
        row = s.get(Run, job_id)
        if row is None or row.kind != kind:
            return None
        total = row.progress_total or 0
        return {
            "id": row.id,
            "status": row.status,
            "done": row.progress_done or 0,
            "total": total,
            "fraction": (row.progress_done or 0) / total if total else 0.0,
            "error": row.error,
        }


async def events(
    request: Request, db: Database, kind: str, job_id: str, poll: float
) -> AsyncIterator[str]:
    """Server-sent events: `progress` whenever the state changes, then one final event
    (`done`, `failed` or `cancelled`) and the stream ends."""
    last = None
    n = 0
    yield "retry: 2000\n\n"
    while True:
        snap = await run_in_threadpool(_snapshot, db, kind, job_id)
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
