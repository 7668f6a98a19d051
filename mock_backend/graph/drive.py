"""SharePoint: a site, and the simple upload to its default document library (at most 4 MB)."""

from __future__ import annotations

from flask import request, url_for

from mock_backend import db, tenant
from mock_backend.graph.common import MAX_REQUEST_BYTES, GraphError, bp
from mock_backend.store import Tx, now_ts


@bp.get("/sites/<site_id>")
def get_site(site_id: str):
    """``GET /sites/{site-id}``: a site of the tenant (``tenant.SITES``), or Graph's 404."""
    if site_id not in tenant.SITES:
        raise GraphError(404, "itemNotFound", "Requested site could not be found")
    return {"id": site_id, "displayName": tenant.SITES[site_id], "webUrl": f"{request.host_url}sites/{site_id}"}


@bp.put("/sites/<site_id>/drive/root:/<path:item_path>:/content")
def upload_file(site_id: str, item_path: str):
    """Simple upload: up to 4 MB (larger files need an upload session, which the flows do not use),
    into a site of the tenant (Graph: 404 itemNotFound for another)."""
    if site_id not in tenant.SITES:
        raise GraphError(404, "itemNotFound", "Requested site could not be found")
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        raise GraphError(
            413, "RequestEntityTooLarge", "The simple upload API supports files up to 4 MB; use an upload session."
        )
    content = request.get_data()
    content_type = request.content_type or "application/octet-stream"
    now = now_ts()
    with Tx(db()) as conn:
        row = conn.execute(
            "SELECT version, created_at FROM graph_files WHERE site_id = ? AND path = ?", (site_id, item_path)
        ).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO graph_files (site_id, path, content, content_type, version, created_at, updated_at)"
                " VALUES (?,?,?,?,1,?,?)",
                (site_id, item_path, content, content_type, now, now),
            )
            version, created, status = 1, now, 201
        else:
            version, created, status = row["version"] + 1, row["created_at"], 200
            conn.execute(
                "UPDATE graph_files SET content = ?, content_type = ?, version = ?, updated_at = ?"
                " WHERE site_id = ? AND path = ?",
                (content, content_type, version, now, site_id, item_path),
            )
    return {
        "id": f"{site_id}:{item_path}",
        "name": item_path.rsplit("/", 1)[-1],
        "size": len(content),
        "createdDateTime": created,
        "lastModifiedDateTime": now,
        "webUrl": url_for("control.get_file", path=item_path, _external=True),
        "file": {"mimeType": content_type},
        "version": version,
    }, status
