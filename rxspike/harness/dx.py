"""Lines of code for the same three endpoints in each library (``examples/dx/``).

Counted with :mod:`ast` and :mod:`tokenize`: the lines that hold code, without blank lines,
comments and docstrings, of each endpoint's handler (with what is nested in it), and of the
whole program (imports, helpers, the app), so that "what each needs by hand" shows as
lines. The shared workload (``workload.py``) is not counted. The programs live in a
checkout, not in the package: :func:`render_loc` is what ``reports/FINDINGS.md`` embeds
after ``<!-- table: dx loc -->``, checked by ``tests/test_findings.py``.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

#: Library -> program file in ``examples/dx``, in table order.
PROGRAMS = {
    "rxspike": "rxspike_app.py",
    "aiohttp (by hand)": "aiohttp_app.py",
    "aiohttp-sse": "aiohttp_sse_app.py",
    "sse-starlette": "sse_starlette_app.py",
}
#: Endpoint -> the handler's name prefix in every program.
ENDPOINTS = {"/tokens": "tokens_", "/feed": "feed_", "/resume": "resume_"}


def code_lines(source: str) -> set[int]:
    """Line numbers that hold code: not blank, not only a comment, not a docstring."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docstrings.update(range(body[0].lineno, (body[0].end_lineno or 0) + 1))
    lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip and token.type != tokenize.ENDMARKER:
            lines.update(range(token.start[0], token.end[0] + 1))
    return lines - docstrings


def count(path: Path) -> dict[str, int]:
    """``{"total": n, "/tokens": n, ...}`` for one program."""
    source = path.read_text()
    lines = code_lines(source)
    out = {"total": len(lines)}
    tree = ast.parse(source)
    for endpoint, prefix in ENDPOINTS.items():
        spans = [
            set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            for node in tree.body
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef)
            and node.name.startswith(prefix)
        ]
        out[endpoint] = len(lines & set().union(*spans)) if spans else 0
    return out


def render_loc(directory: Path) -> str:
    """The lines-of-code table, one row per library."""
    lines = [
        "| library | " + " | ".join(f"`{e}` handler" for e in ENDPOINTS) + " | whole program |",
        "|---|" + "---:|" * (len(ENDPOINTS) + 1),
    ]
    for library, name in PROGRAMS.items():
        counted = count(directory / name)
        cells = [str(counted[e]) for e in ENDPOINTS] + [str(counted["total"])]
        lines.append(f"| {library} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
