"""The floor for a booking: a Flask endpoint under gunicorn (as Rapport's webs run) that inserts
one row into PostgreSQL per request and answers 201."""

from __future__ import annotations

import os
import uuid

from flask import Flask, request
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["BENCH_FLOOR_DATABASE_URL"], pool_size=5)
app = Flask(__name__)  # the bench creates the table before gunicorn starts


@app.post("/insert")
def insert() -> tuple[dict[str, str], int]:
    row = {"id": str(uuid.uuid4()), "body": request.get_data(as_text=True)}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO floor_booking (id, body) VALUES (:id, :body)"), row)
    return {"id": row["id"]}, 201
