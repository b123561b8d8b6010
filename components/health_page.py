"""The fleet's backup health as one static HTML page: no server, nothing fetched from anywhere.

One row per installation, the worst first (components/health.py sorts them). Each cell is a
technology or location: its state in words and its age against its limit, then a strip of the
last 30 days, hour by hour, merged into runs of the same state; hovering a run shows its hours,
its state and why. States differ by colour (the Okabe-Ito palette, which stays apart under the
common colour blindnesses) and by pattern too: stale is striped, failed cross-hatched, unknown
dotted, fresh plain; and each is named in the cell. Generated with jinja2, escaped throughout.
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby

from jinja2 import Environment, select_autoescape

from components.health import STATES, Cell, Row

COLOURS = {"fresh": "#009E73", "stale": "#E69F00", "failed": "#D55E00", "unknown": "#7f7f7f"}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Backup health of {{ rows|length }} installations, {{ generated }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #111; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
.summary { margin: 0 0 1em; }
.summary.broken { color: #a33; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .4em .6em; border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; }
.cell { margin: 0 0 .5em; }
.label { font-weight: 600; }
.state { display: inline-block; padding: 0 .4em; border-radius: 3px; color: #000; }
.strip { display: flex; height: 14px; width: 360px; border: 1px solid #555; margin-top: 2px; }
.strip span { display: block; height: 100%; }
{% for state, colour in colours.items() %}.s-{{ state }} { background-color: {{ colour }}; }
{% endfor %}.s-stale { background-image: repeating-linear-gradient(45deg, transparent 0 3px, rgba(0,0,0,.35) 3px 5px); }
.s-failed { background-image: repeating-linear-gradient(45deg, rgba(0,0,0,.45) 0 2px, transparent 2px 5px),
  repeating-linear-gradient(-45deg, rgba(0,0,0,.45) 0 2px, transparent 2px 5px); }
.s-unknown { background-image: radial-gradient(rgba(255,255,255,.8) 1px, transparent 1.5px); background-size: 4px 4px; }
.state.s-stale, .state.s-failed, .state.s-unknown { background-image: none; }
.state.s-failed { color: #fff; }
.why { color: #333; }
.legend span { display: inline-block; width: 2.2em; height: 1em; vertical-align: middle; border: 1px solid #555; }
</style></head>
<body>
<h1>Backup health: {{ rows|length }} installations</h1>
<p class="summary {{ '' if kept == rows|length else 'broken' }}" id="summary">
{{ kept }} of {{ rows|length }} keep every promise; the worst are first. Read at {{ generated }} UTC;
each strip is the last 30 days, an hour a step, the newest on the right.</p>
<p class="legend">{% for state in states %}<span class="s-{{ state }}"></span> {{ state }} &nbsp; {% endfor %}</p>
<table>
<thead><tr><th>installation</th><th>promise</th><th>technologies and locations</th><th>storage</th></tr></thead>
<tbody>
{% for row in rows %}<tr class="installation" data-installation="{{ row.installation }}" data-worst="{{ row.worst }}">
<td>{{ row.installation }}</td>
<td>{% if row.kept %}kept{% else %}<strong>broken</strong>{% endif %}</td>
<td>{% if row.error %}<span class="state s-unknown">unknown</span> <span class="why">{{ row.error }}</span>{% endif %}
{% for cell in row.cells %}<div class="cell" data-technology="{{ cell.technology }}" data-state="{{ cell.state }}">
<span class="label">{{ cell.technology }}</span> ({{ cell.kind }})
<span class="state s-{{ cell.state }}">{{ cell.state }}</span>
{% if cell.age_hours is not none %}{{ '%.0f'|format(cell.age_hours) }} h of {{ '%g'|format(cell.limit_hours) }} h{% endif %}
{% if cell.state != 'fresh' %}<span class="why">{{ cell.cause }}</span>{% endif %}
{% if cell.last_drill %}<div class="why drill">{{ cell.last_drill }}</div>{% endif %}
<div class="strip" role="img" aria-label="{{ cell.technology }}, last 30 days">{% for run in runs(cell) %}<span class="s-{{ run.state }}" style="flex-grow: {{ run.hours }}" title="{{ run.title }}"></span>{% endfor %}</div>
</div>{% endfor %}</td>
<td>{% if row.storage_gb is not none %}{{ '%g'|format(row.storage_gb) }} GB{% if row.included_gb %} of {{ '%g'|format(row.included_gb) }} included{% endif %}{% else %}no reading{% endif %}</td>
</tr>
{% endfor %}</tbody></table>
</body></html>
"""


class Run:
    def __init__(self, state: str, hours: int, title: str):
        self.state, self.hours, self.title = state, hours, title


def runs(cell: Cell) -> list[Run]:
    """The strip's hours merged into runs of one state; the title says when, and why at the run's end."""
    found = []
    index = 0
    for state, group in groupby(cell.hours):
        hours = len(list(group))
        first, last = cell.cause_at(index), cell.cause_at(index + hours - 1)
        when = first.split(": ", 1)[0] if hours == 1 else f"{first.split(': ', 1)[0]} to {last.split(': ', 1)[0]}"
        found.append(Run(state, hours, f"{when}: {state}: {last.split(': ', 2)[-1]}"))
        index += hours
    return found


def render_page(rows: list[Row], generated: datetime) -> str:
    environment = Environment(autoescape=select_autoescape(default=True), trim_blocks=False)
    return environment.from_string(PAGE).render(
        rows=rows, kept=sum(r.kept for r in rows), generated=f"{generated:%Y-%m-%d %H:%M}",
        colours=COLOURS, states=STATES, runs=runs)
