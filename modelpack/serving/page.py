"""The model page at ``/``: one self-contained HTML page (no CDN, no build step, works offline).

It shows the facts ``modelpack info`` shows (``modelpack.info.describe_package``: name, flavor,
versions, signature, params, requirements, integrity) and a "Try it" form, filled in with the
package's serving example, that posts to ``invocations`` and shows the answer. Everything that
comes from the package is escaped (``html.escape``); the examples ride in ``<script
type="application/json">`` blocks with ``<``, ``>`` and ``&`` written as JSON escapes, so that no
text in them can close the script. Links are relative, so the page also works behind a proxy
that serves the model under a path prefix.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from modelpack.info import integrity_lines

__all__ = ["pretty_json", "render_page"]


def render_page(
    summary: dict[str, Any],
    example: str | None,
    csv_example: str | None,
    *,
    metrics: bool,
    auth: bool,
) -> bytes:
    """The page for ``summary`` (``describe_package``), with the serving example (JSON text)
    and its CSV form pre-filled in the form; ``metrics``/``auth``: the server's settings."""
    e = _e
    name = summary["name"] or "model"
    sig = summary["signature"]
    sections = [
        f"<header><h1>{e(name)}</h1><p class=sub>{e(summary['flavor'])} model served by "
        f"modelpack · <a href=openapi.json>OpenAPI</a>"
        + (" · <a href=metrics>metrics</a>" if metrics else "")
        + " · <a href=health/ready>ready?</a></p></header>",
        _try_it(example, csv_example, auth),
        "<section><h2>Inputs</h2>"
        + _table(
            sig["inputs"], ["name", "type", "required", "shape"], "none: inputs are not checked"
        )
        + "</section>",
        "<section><h2>Outputs</h2>"
        + _table(sig["outputs"], ["name", "type", "required", "shape"], "none recorded")
        + "</section>",
        "<section><h2>Params</h2>"
        + _table(sig["params"], ["name", "type", "default", "shape"], "none")
        + "</section>",
        _versions(summary),
        "<section><h2>Requirements</h2>"
        + (
            "<ul class=reqs>"
            + "".join(f"<li><code>{e(r)}</code>" for r in summary["requirements"])
            + "</ul>"
            if summary["requirements"]
            else "<p class=muted>none recorded</p>"
        )
        + "</section>",
        "<section><h2>Integrity</h2><ul>"
        + "".join(f"<li>{e(line)}" for line in integrity_lines(summary["integrity"]))
        + "</ul>"
        + (
            f"<p class=warn>Pickled files ({e(summary['pickle'])}): load only packages you trust."
            "</p>"
            if summary["pickle"]
            else ""
        )
        + "</section>",
    ]
    page = _TEMPLATE.format(
        title=e(f"{name} · modelpack"),
        style=_STYLE,
        body="\n".join(sections),
        examples=_script_json("examples", {"json": example, "csv": csv_example}),
        script=_SCRIPT,
    )
    return page.encode("utf-8")


def pretty_json(value: Any, indent: str = "") -> str:
    """JSON text indented by level, with lists of plain values kept on one line (a row of
    the example reads as one line)."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(str(k))}: {pretty_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        items = [inner + pretty_json(v, inner) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return json.dumps(value, separators=(", ", ": "))


def _e(value: Any) -> str:
    return html.escape("-" if value is None else str(value), quote=True)


def _script_json(element_id: str, value: Any) -> str:
    """``value`` as JSON inside a script block that no text in it can close."""
    text = (
        json.dumps(value)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _versions(summary: dict[str, Any]) -> str:
    """Serving versions beside the ones the package was saved with."""
    written = summary["written_by"]
    conf = summary["flavors"].get(summary["flavor"]) or {}
    # A flavor records its library's version as <something>_version (sklearn_version, ...).
    saved_library = next((v for k, v in conf.items() if k.endswith("_version") and v), None)
    rows = []
    for key, serving in summary["runtime"].items():
        saved = written.get(key) if key in ("modelpack", "python") else saved_library
        rows.append((key, serving or "not installed", saved))
    if written.get("mlflow"):
        rows.append(("mlflow", None, written["mlflow"]))
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td><td>{_e(s)}</td></tr>" for k, v, s in rows)
    return (
        "<section><h2>Versions</h2><table><thead><tr><th></th><th>serving</th>"
        f"<th>saved with</th></tr></thead><tbody>{body}</tbody></table></section>"
    )


def _table(rows: Sequence[dict[str, Any]] | None, columns: list[str], empty: str) -> str:
    if not rows:
        return f"<p class=muted>{_e(empty)}</p>"
    shown = [c for c in columns if any(c in r for r in rows)]
    head = "".join(f"<th>{_e(c)}</th>" for c in shown)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in shown) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, list | dict):
        return f"<code>{_e(json.dumps(value))}</code>"
    return _e(value)


def _try_it(example: str | None, csv_example: str | None, auth: bool) -> str:
    token = (
        "<label>Bearer token <input id=token type=password autocomplete=off "
        "placeholder='this server requires one'></label>"
        if auth
        else "<label>Bearer token <input id=token type=password autocomplete=off "
        "placeholder='not needed here'></label>"
    )
    csv_option = "<option value='text/csv'>text/csv</option>" if csv_example is not None else ""
    note = "" if example is not None else "<p class=muted>This package has no serving example.</p>"
    return (
        "<section id=try-it><h2>Try it</h2>" + note + "<div class=controls>"
        "<label>Content-Type <select id=type><option value='application/json'>"
        f"application/json</option>{csv_option}</select></label>{token}</div>"
        f"<textarea id=body spellcheck=false rows=14>{_e(example or '')}</textarea>"
        "<div class=controls><button id=try type=button>Try it</button>"
        "<button id=reset type=button class=secondary>Reset</button>"
        "<span id=status role=status></span></div>"
        "<pre id=result aria-live=polite></pre></section>"
    )


_TEMPLATE = """<!doctype html>
<html lang=en>
<head>
<meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<link rel=icon href="data:,">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<main>
{body}
</main>
{examples}
<script>{script}</script>
</body>
</html>
"""

_STYLE = """
:root { color-scheme: light dark; --fg: #1d2330; --muted: #6b7385; --line: #d9dde6;
  --bg: #fff; --panel: #f5f7fa; --accent: #2455c3; --bad: #b3261e; --good: #1b7f3b; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ef; --muted: #9aa3b5; --line: #343a48;
  --bg: #14171d; --panel: #1c2029; --accent: #7aa2ff; --bad: #ff8a80; --good: #7fd69a; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--fg); background: var(--bg); }
main { max-width: 960px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { margin: 0; font-size: 28px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.sub, .muted { color: var(--muted); } a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line); }
thead th { color: var(--muted); font-weight: 600; }
code, pre, textarea { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
ul.reqs { columns: 2; padding-left: 18px; }
.warn { color: var(--bad); }
textarea { width: 100%; padding: 10px; border: 1px solid var(--line); border-radius: 6px;
  background: var(--panel); color: var(--fg); }
.controls { display: flex; gap: 14px; align-items: center; flex-wrap: wrap; margin: 8px 0; }
input, select { font: inherit; padding: 4px 6px; }
button { font: inherit; padding: 6px 18px; border: 0; border-radius: 6px; cursor: pointer;
  background: var(--accent); color: #fff; }
button.secondary { background: var(--panel); color: var(--fg); border: 1px solid var(--line); }
pre#result { min-height: 2.5em; padding: 10px; border-radius: 6px; background: var(--panel);
  white-space: pre-wrap; word-break: break-word; border-left: 4px solid var(--line); }
pre#result.ok { border-left-color: var(--good); }
pre#result.error { border-left-color: var(--bad); }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var examples = JSON.parse(document.getElementById("examples").textContent);
  var body = document.getElementById("body");
  var type = document.getElementById("type");
  var result = document.getElementById("result");
  var status = document.getElementById("status");
  function pretty(value, indent) {
    var inner = indent + "  ";
    if (Array.isArray(value)) {
      var nested = value.some(function (v) { return v !== null && typeof v === "object"; });
      if (!nested) {
        return "[" + value.map(function (v) { return JSON.stringify(v); }).join(", ") + "]";
      }
      return "[\n" + value.map(function (v) { return inner + pretty(v, inner); }).join(",\n") +
        "\n" + indent + "]";
    }
    if (value !== null && typeof value === "object") {
      var keys = Object.keys(value);
      if (!keys.length) { return "{}"; }
      return "{\n" + keys.map(function (k) {
        return inner + JSON.stringify(k) + ": " + pretty(value[k], inner);
      }).join(",\n") + "\n" + indent + "}";
    }
    return JSON.stringify(value);
  }
  function fill() {
    var text = type.value === "text/csv" ? examples.csv : examples.json;
    body.value = text || "";
  }
  type.addEventListener("change", fill);
  document.getElementById("reset").addEventListener("click", fill);
  document.getElementById("try").addEventListener("click", function () {
    var headers = { "Content-Type": type.value };
    var token = document.getElementById("token").value.trim();
    if (token) { headers["Authorization"] = "Bearer " + token; }
    result.className = "";
    result.textContent = "...";
    status.textContent = "";
    var started = performance.now();
    fetch("invocations", { method: "POST", headers: headers, body: body.value })
      .then(function (response) {
        return response.text().then(function (text) {
          var shown = text;
          try { shown = pretty(JSON.parse(text), ""); } catch (e) { /* shown as it came */ }
          var id = response.headers.get("X-Request-ID") || "";
          status.textContent = response.status + " " + (response.ok ? "OK" : "error") + " in " +
            Math.round(performance.now() - started) + " ms" + (id ? " \u00b7 request " + id : "");
          result.textContent = shown;
          result.className = response.ok ? "ok" : "error";
        });
      })
      .catch(function (error) {
        status.textContent = "no answer";
        result.textContent = String(error);
        result.className = "error";
      });
  });
})();
"""
