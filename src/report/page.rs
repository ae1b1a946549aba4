//! The report's page template: HTML with inline CSS, rendered by minijinja under a `.html`
//! name, so every value is escaped for HTML. It references no URL and has no script.

pub const TEMPLATE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #1d2330; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.25rem; border-bottom: 1px solid #d8dce4; padding-bottom: .3rem; margin-top: 2.5rem; }
h3 { font-size: 1.05rem; margin-bottom: .3rem; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { border: 1px solid #d8dce4; padding: .2rem .5rem; text-align: left; }
th { background: #f2f4f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.totals { display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; } dt { color: #5b6475; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; } figure { margin: 0; border: 1px solid #d8dce4; padding: .5rem; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
svg text { font-size: 9px; fill: #1d2330; }
rect.score { fill: #4c7bd9; } rect.cost { fill: #d98c4c; } rect.input { fill: #5b6475; } rect.output { fill: #4cae6e; }
rect.write { fill: #b35fc4; } rect.read { fill: #4cb8c4; } rect.checks { fill: #d9c24c; } rect.model { fill: #4c7bd9; }
.committed { color: #1f7a3a; font-weight: 600; } .other { color: #a3471f; font-weight: 600; }
.pass { color: #1f7a3a; } .fail { color: #a3471f; }
pre.diff { background: #f6f8fa; padding: .6rem; overflow-x: auto; font-size: 12px; max-height: 30rem; }
section.iteration { border-left: 3px solid #d8dce4; padding-left: 1rem; margin: 1.2rem 0; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<dl class="totals" id="totals" data-sessions="{{ totals.sessions }}" data-iterations="{{ totals.iterations }}" data-commits="{{ totals.commits }}" data-input-tokens="{{ totals.input_tokens }}" data-output-tokens="{{ totals.output_tokens }}" data-cache-write-tokens="{{ totals.cache_write_tokens }}" data-cache-read-tokens="{{ totals.cache_read_tokens }}" data-cost-usd="{{ totals.cost_usd if totals.cost_usd is not none else '' }}">
<dt>sessions</dt><dd>{{ totals.sessions }}</dd>
<dt>iterations</dt><dd>{{ totals.iterations }}</dd>
<dt>commits</dt><dd>{{ totals.commits }}</dd>
<dt>tokens</dt><dd>{{ total_tokens }}</dd>
<dt>cost</dt><dd>{{ total_cost }}</dd>
</dl>
{% for s in sessions %}
<h2>Session {{ s.id }}</h2>
<dl class="totals">
<dt>command</dt><dd>mmm {{ s.kind }}</dd>
<dt>status</dt><dd>{{ s.status }}</dd>
<dt>stopped</dt><dd>{{ s.stop or "—" }}</dd>
<dt>branch</dt><dd><code>{{ s.branch }}</code></dd>
<dt>model</dt><dd>{{ s.model }}</dd>
<dt>started</dt><dd>{{ s.started_at }}</dd>
<dt>score</dt><dd>{{ s.score }}</dd>
<dt>iterations</dt><dd>{{ s.totals.iterations }} ({{ s.totals.commits }} committed)</dd>
<dt>tokens</dt><dd>{{ s.totals.input_tokens }} input, {{ s.totals.output_tokens }} output, {{ s.totals.cache_write_tokens }} cache write, {{ s.totals.cache_read_tokens }} cache read</dd>
<dt>cost</dt><dd>{{ s.cost }}</dd>
<dt>time</dt><dd>{{ s.elapsed }}</dd>
</dl>
<div class="charts">
{% for c in s.charts %}
<figure>
<figcaption>{{ c.title }}</figcaption>
{% if c.empty %}<p>{{ c.empty }}</p>{% else %}
<svg role="img" width="{{ c.width }}" height="{{ c.height }}" viewBox="0 0 {{ c.width }} {{ c.height }}">
{% for b in c.bars %}<g><title>{{ b.label }}: {{ b.value }}</title><rect class="{{ b.class }}" x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}" height="{{ b.h }}"></rect><text x="{{ b.x }}" y="{{ b.y - 3 }}">{{ b.value }}</text><text x="{{ b.x }}" y="{{ c.height - 4 }}">{{ b.short }}</text></g>
{% endfor %}</svg>{% endif %}
</figure>
{% endfor %}
</div>
{% if s.baseline %}
<h3>Baseline checks</h3>
<table><tr><th>command</th><th>result</th><th>time</th><th>CPU</th><th>peak memory</th></tr>
{% for c in s.baseline %}<tr><td><code>{{ c.command }}</code></td><td class="{{ 'pass' if c.passed else 'fail' }}">{{ c.result }}</td><td class="num">{{ c.duration }}</td><td class="num">{{ c.cpu }}</td><td class="num">{{ c.memory }}</td></tr>
{% endfor %}</table>
{% endif %}
{% for i in s.iterations %}
<section class="iteration">
<h3>Iteration {{ i.index }}: <span class="{{ 'committed' if i.committed else 'other' }}">{{ i.outcome }}</span></h3>
<p>score {{ i.score_before or "—" }} → {{ i.score_after or "—" }} · {{ i.tokens }} tokens · {{ i.cost }} · {{ i.duration }}{% if i.commit %} · commit <code>{{ i.commit[:10] }}</code>{% endif %}</p>
{% if i.summary %}<p>{{ i.summary }}</p>{% endif %}
{% if i.error %}<p class="fail">{{ i.error }}</p>{% endif %}
{% if i.issues %}<p>Issues given:</p><ul>{% for issue in i.issues %}<li>{{ issue }}</li>{% endfor %}</ul>{% endif %}
{% if i.files %}<p>Files: {{ i.files|join(", ") }}</p>{% endif %}
{% if i.checks %}
<table><tr><th>check</th><th>result</th><th>time</th><th>CPU</th><th>peak memory</th></tr>
{% for c in i.checks %}<tr><td><code>{{ c.command }}</code></td><td class="{{ 'pass' if c.passed else 'fail' }}">{{ c.result }}</td><td class="num">{{ c.duration }}</td><td class="num">{{ c.cpu }}</td><td class="num">{{ c.memory }}</td></tr>
{% endfor %}</table>
{% endif %}
{% if i.diff %}<details open><summary>Diff</summary><pre class="diff">{{ i.diff }}</pre></details>
{% elif not i.committed and i.files %}<p>Rolled back: its diff was not kept.</p>{% endif %}
</section>
{% endfor %}
{% endfor %}
</body>
</html>
"##;
