"""Ratings in SQLite beside the batch (``ratings.sqlite``, write-ahead log).

Every submission is one transaction: a row in ``events`` (nothing is ever overwritten there) and
the rater's current rating of the item in ``ratings`` (a changed rating replaces the earlier one).
A submitted rating is on disk when the request returns, so a crash or a killed server loses none,
and several raters (and server threads) can write at once.

>>> store = RatingStore(tmp / "ratings.sqlite")  # doctest: +SKIP
>>> store.submit(Rating(item_id="00001", rater="ana", expertise="radiologist", realism=3, fidelity=2))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthbench.feedback.batch import FeedbackError

DB_FILE = "ratings.sqlite"
EXPERTISE = ("layperson", "student", "resident", "clinician", "radiologist", "other")
FIELDS = ("item_id", "rater", "expertise", "realism", "fidelity", "skipped")

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL, rater TEXT NOT NULL, expertise TEXT NOT NULL,
    realism INTEGER, fidelity INTEGER, skipped INTEGER NOT NULL, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ratings (
    item_id TEXT NOT NULL, rater TEXT NOT NULL, expertise TEXT NOT NULL,
    realism INTEGER, fidelity INTEGER, skipped INTEGER NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (item_id, rater)
);
"""


class Rating(BaseModel):
    """One rater's verdict on one image: realism and prompt fidelity on 1-3, or skipped."""

    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1)
    rater: str = Field(min_length=1, max_length=100)
    expertise: Literal[EXPERTISE] = "other"  # type: ignore[valid-type]
    realism: int | None = Field(default=None, ge=1, le=3)
    fidelity: int | None = Field(default=None, ge=1, le=3)
    skipped: bool = False

    @model_validator(mode="after")
    def _complete(self) -> Rating:
        if not self.skipped and (self.realism is None or self.fidelity is None):
            raise ValueError("give realism and fidelity (1-3), or skipped = true")
        if self.skipped and (self.realism is not None or self.fidelity is not None):
            raise ValueError("a skipped item has no realism or fidelity")
        return self


class RatingStore:
    """The ratings of one batch. Opening checks the file; a damaged one is one clear line."""

    def __init__(self, path: str | Path, *, items: set[str] | None = None) -> None:
        self.path = Path(path)
        self.items = items
        with self._connect() as db:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SCHEMA)
                check = db.execute("PRAGMA quick_check").fetchone()[0]
                columns = {r[1] for r in db.execute("PRAGMA table_info(ratings)")}
            except sqlite3.DatabaseError as exc:
                raise FeedbackError(f"{self.path}: not a ratings database ({exc})") from None
        if check != "ok" or not set(FIELDS) <= columns:
            raise FeedbackError(
                f"{self.path}: damaged ratings database ({check}); restore it from a copy or export what is left"
            )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except sqlite3.Error as exc:
            raise FeedbackError(f"{self.path}: cannot open ({exc})") from None
        try:
            yield db
        finally:
            db.close()

    def submit(self, rating: Rating) -> None:
        """Record a rating (replacing the rater's earlier one of the item) in one transaction."""
        if self.items is not None and rating.item_id not in self.items:
            raise FeedbackError(f"no item {rating.item_id!r} in this batch")
        values = (
            rating.item_id,
            rating.rater,
            rating.expertise,
            rating.realism,
            rating.fidelity,
            int(rating.skipped),
            time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        with self._connect() as db:
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "INSERT INTO events (item_id, rater, expertise, realism, fidelity, skipped, at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                db.execute(
                    "INSERT OR REPLACE INTO ratings (item_id, rater, expertise, realism, fidelity, "
                    "skipped, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise FeedbackError(f"{self.path}: could not store the rating ({exc})") from None

    def ratings(self, rater: str | None = None) -> list[dict]:
        """Current ratings (one per item and rater), optionally of one rater."""
        query = f"SELECT {', '.join(FIELDS)}, at FROM ratings"
        args: tuple = ()
        if rater is not None:
            query += " WHERE rater = ?"
            args = (rater,)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY item_id, rater", args).fetchall()
        return [dict(zip((*FIELDS, "at"), r)) | {"skipped": bool(r[5])} for r in rows]

    def n_events(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # ------------------------------------------------------------------ files
    def export(self, fmt: str = "csv") -> str:
        """The current ratings as CSV or JSON lines."""
        rows = self.ratings()
        if fmt == "jsonl":
            return "".join(json.dumps(r) + "\n" for r in rows)
        if fmt != "csv":
            raise FeedbackError(f"unknown format {fmt!r}; valid: csv, jsonl")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=[*FIELDS, "at"])
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()

    def import_file(self, path: str | Path) -> int:
        """Add the ratings of a CSV or JSON-lines file (as ``export`` writes, or gathered
        elsewhere). The whole file is checked first: a malformed row is one line naming the
        file, the row and the problem, and nothing is added."""
        path = Path(path)
        if not path.is_file():
            raise FeedbackError(f"{path}: no such ratings file")
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            raise FeedbackError(f"{path}: not a text file (CSV or JSON lines)") from None
        if path.suffix == ".jsonl":
            records = []
            for lineno, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    records.append((lineno, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise FeedbackError(f"{path}:{lineno}: not JSON ({exc.msg})") from None
        elif path.suffix == ".csv":
            reader = csv.DictReader(io.StringIO(text))
            missing = sorted(set(FIELDS) - set(reader.fieldnames or []))
            if missing:
                raise FeedbackError(
                    f"{path}: missing column(s) {', '.join(missing)}; needs {', '.join(FIELDS)}"
                )
            records = [
                (i, {k: (v if v != "" else None) for k, v in row.items() if k in FIELDS})
                for i, row in enumerate(reader, 2)
            ]
        else:
            raise FeedbackError(f"{path}: give a .csv or .jsonl file")
        ratings = []
        for lineno, record in records:
            if not isinstance(record, dict):
                raise FeedbackError(f"{path}:{lineno}: expected an object with {', '.join(FIELDS)}")
            clean = {k: v for k, v in record.items() if k != "at"}
            if isinstance(clean.get("skipped"), str):
                clean["skipped"] = clean["skipped"].strip().lower() in ("1", "true", "yes")
            try:
                rating = Rating.model_validate(clean)
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"]) or "row"
                raise FeedbackError(
                    f"{path}:{lineno}: {field}: {err['msg'].removeprefix('Value error, ')}"
                ) from None
            if self.items is not None and rating.item_id not in self.items:
                raise FeedbackError(
                    f"{path}:{lineno}: item_id {rating.item_id!r} is not in this batch"
                )
            ratings.append(rating)
        for rating in ratings:
            self.submit(rating)
        return len(ratings)


def rated_items(batches: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Every rating (not skipped) of the batches, with its image row and prompt: one dict per
    item and rater (``batch``, ``item_id``, ``row``, ``prompt``, ``realism``, ``fidelity``)."""
    from synthbench.feedback.batch import load_batch

    out: list[dict[str, Any]] = []
    for folder in map(Path, batches):
        batch = load_batch(folder)
        if not (folder / DB_FILE).is_file():
            raise FeedbackError(f"{folder}: no ratings yet ({DB_FILE} is missing)")
        index = {item.id: i for i, item in enumerate(batch.items)}
        for r in RatingStore(folder / DB_FILE, items=set(index)).ratings():
            if r["skipped"] or r["realism"] is None or r["fidelity"] is None:
                continue
            i = index[r["item_id"]]
            out.append(
                {
                    "batch": folder,
                    "item_id": r["item_id"],
                    "row": i,
                    "prompt": batch.items[i].prompt,
                    "realism": int(r["realism"]),
                    "fidelity": int(r["fidelity"]),
                }
            )
    return out
