"""/v1/packages: upload a retailer's data package (a zip of its tables), checked with the
CLI's rules and fitted; then run or compare the scenario `package:<id>` like any other."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from .. import packages
from ..deps import ApiKey, SettingsDep
from ..schemas import PackageList, PackageOut
from .common import KEYED, NOT_FOUND

router = APIRouter(prefix="/v1/packages", tags=["packages"])

PackageId = Annotated[
    str, Path(pattern=packages.ID.pattern, description="The package's id (32 hex digits).")
]


def _out(record: dict[str, Any]) -> PackageOut:
    base = f"/v1/packages/{record['id']}"
    return PackageOut(
        **record,
        links={"self": base, "report": f"{base}/report", "plot": f"{base}/fit.png"},
    )


def _folder(settings: Any, package_id: str) -> Any:
    path = packages.folder(settings, package_id)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no package with id {package_id}")
    return path


@router.post(
    "",
    response_model=PackageOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[ApiKey],
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A zip of the package's tables (locations, skus, suppliers,"
            " sales, stock; lanes and policy optional), CSV or Parquet, at the top of the"
            " zip or in one folder.",
            # a zip is bytes: sent as application/zip or application/octet-stream alike
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    responses={
        200: {"description": "This zip was uploaded before: the same package"},
        201: {
            "description": "Checked and fitted; run it as its `scenario`",
            "headers": {"Location": {"schema": {"type": "string"}, "description": "It."}},
        },
        **KEYED,
        413: {"description": "The zip is over OMNITWIN_MAX_PACKAGE_BYTES"},
        415: {"description": "Not sent as application/zip or application/octet-stream"},
        422: {
            "description": "Not a zip, or a package with problems: every one, by `file`,"
            " `row` and `column` (also in `loc`); `ignored` lists what was left out"
        },
    },
    summary="Upload a data package (zip): checked, fitted, ready to run",
)
async def upload_package(
    request: Request,
    settings: SettingsDep,
    name: Annotated[
        str | None,
        Query(pattern=packages.NAME.pattern, description="The fitted scenario's name."),
    ] = None,
) -> Response:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in packages.ZIP_TYPES:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "send the package as a zip (Content-Type: application/zip or"
            f" application/octet-stream), not {kind or 'nothing'}",
        )
    body = await request.body()
    try:
        record, created = await run_in_threadpool(packages.upload, body, settings, name)
    except packages.Refused as exc:
        return JSONResponse(
            {"detail": exc.errors, "ignored": [i.as_dict() for i in exc.ignored]},
            status_code=422,
        )
    out = _out(record)
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        headers={"Location": out.links["self"]},
    )


@router.get("", response_model=PackageList, summary="Uploaded packages, newest first")
def list_packages(settings: SettingsDep) -> PackageList:
    return PackageList(items=[_out(r) for r in packages.listing(settings)])


@router.get(
    "/{package_id}",
    response_model=PackageOut,
    responses=NOT_FOUND,
    summary="One uploaded package: what it holds, what was ignored",
)
def get_package(package_id: PackageId, settings: SettingsDep) -> PackageOut:
    return _out(packages.meta(_folder(settings, package_id)))


@router.get(
    "/{package_id}/report",
    response_class=Response,
    responses={**NOT_FOUND, 200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}},
    summary="The fit report: fitted against observed demand per sku class",
)
def package_report(package_id: PackageId, settings: SettingsDep) -> Response:
    path = _folder(settings, package_id) / "scenario.fit" / "report.md"
    return Response(path.read_bytes(), media_type="text/markdown; charset=utf-8")


@router.get(
    "/{package_id}/fit.png",
    response_class=FileResponse,
    responses={
        **NOT_FOUND,
        200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
    },
    summary="The fit report's plot",
)
def package_plot(package_id: PackageId, settings: SettingsDep) -> FileResponse:
    return FileResponse(
        _folder(settings, package_id) / "scenario.fit" / "fit.png", media_type="image/png"
    )
