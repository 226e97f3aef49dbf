"""The benchmarks' baseline: a bare Flask app with one hello-world JSON endpoint (``scripts.bench.hello_app:app``)."""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/hello")
def hello():
    """Return a fixed greeting."""
    return jsonify(message="hello, world")
