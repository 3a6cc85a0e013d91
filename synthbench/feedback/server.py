"""The rating page: a small FastAPI app over one batch folder (imported only to serve it).

Every request needs the access token (``?token=`` in the URL the server prints, or the
``X-Token`` header the page sends); anything else is refused with 403. It binds 127.0.0.1
unless told otherwise.
"""

from __future__ import annotations

import secrets
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import ValidationError

from synthbench.feedback.batch import IMAGES, FeedbackError, load_batch
from synthbench.feedback.store import DB_FILE, Rating, RatingStore


def create_app(batch_dir: str | Path, token: str) -> FastAPI:
    """The ASGI app serving ``batch_dir``'s rating page, guarded by ``token``."""
    folder = Path(batch_dir)
    batch = load_batch(folder)
    store = RatingStore(folder / DB_FILE, items=batch.item_ids())
    page = resources.files("synthbench.feedback").joinpath("page.html").read_text()
    images = {Path(i.image).name: folder / i.image for i in batch.items}

    def check_token(request: Request) -> None:
        given = request.headers.get("x-token") or request.query_params.get("token") or ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(status_code=403, detail="missing or wrong access token")

    app = FastAPI(
        title="synthbench rating page",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(check_token)],
    )

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/batch")
    def get_batch() -> dict[str, Any]:
        return {
            "generator": batch.generator,
            "config_hash": batch.config_hash,
            "items": [i.model_dump() for i in batch.items],
        }

    @app.get("/api/ratings")
    def get_ratings(rater: str | None = None) -> dict[str, Any]:
        return {"ratings": store.ratings(rater)}

    @app.post("/api/ratings")
    async def post_rating(request: Request) -> dict[str, Any]:
        try:
            rating = Rating.model_validate(await request.json())
        except (ValidationError, ValueError) as exc:
            raise HTTPException(status_code=422, detail=str(exc).splitlines()[0]) from None
        try:
            store.submit(rating)
        except FeedbackError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return {"ok": True}

    @app.get("/images/{name}")
    def image(name: str) -> FileResponse:
        path = images.get(name)
        if path is None or not path.is_file():
            raise HTTPException(status_code=404, detail="no such image")
        return FileResponse(path, media_type="image/png")

    return app


def serve(batch_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8000, echo=print) -> None:
    """Run the rating page until interrupted; prints the URL with its access token."""
    import uvicorn

    token = secrets.token_urlsafe(16)
    app = create_app(batch_dir, token)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    echo(f"rating page for {batch_dir}: http://{shown}:{port}/?token={token}")
    echo(
        f"ratings are saved to {Path(batch_dir) / DB_FILE} as they are given; Ctrl-C stops the server"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = ["IMAGES", "create_app", "serve"]
