// The operator's page: polls /v1/stats every 2 s and the retention views
// (/v1/cohorts, /v1/flows, /v1/segments, /v1/warnings) every 10 s, and
// draws them with Chart.js (the flows with its Sankey plugin; the R×F grid
// and the cohort triangle are tables shaded by value). Rates (events/s,
// dead letters/s) are differences between successive polls.
'use strict';
(() => {
  const POLL_MS = 2000;
  const METRICS_MS = 10000;
  const HISTORY = 90; // points of the rate chart: 3 minutes
  const STAGES = ['new', 'growing', 'mature', 'silent', 'churned'];
  const STAGE_COLORS = { new: '#4e79a7', growing: '#76b7b2', mature: '#59a14f', silent: '#edc948', churned: '#e15759' };
  const SEGMENTS = ['important value', 'important develop', 'important keep', 'important retain',
    'general value', 'general develop', 'general keep', 'general retain'];
  const SEGMENT_COLORS = ['#1b7837', '#5aae61', '#c2a5cf', '#762a83', '#4393c3', '#92c5de', '#f4a582', '#d6604d'];

  const $ = (id) => document.getElementById(id);
  const fmt = (n) => Number(n).toLocaleString('en-US');
  const fmtRate = (r) => (r === null ? '–' : r.toLocaleString('en-US', { maximumFractionDigits: r < 10 ? 1 : 0 }));
  const fmtTime = (s) => (s ? s.slice(0, 16).replace('T', ' ') : '–');

  // What the page last drew, for people and for the browser test.
  const page = (window.lifecyclePage = { polls: 0, stats: null, metricsPolls: 0, metrics: null });
  let token = sessionStorage.getItem('lifecycle-token') || '';
  let prev = null; // {t, applied, rejected} of the previous poll

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.size = 13;
  const bar = (id, horizontal) => new Chart($(id), {
    type: 'bar',
    data: { labels: [], datasets: [{ label: 'users', data: [], backgroundColor: [] }] },
    options: { indexAxis: horizontal ? 'y' : 'x', plugins: { legend: { display: false } }, scales: { [horizontal ? 'x' : 'y']: { beginAtZero: true } } },
  });
  const stagesChart = bar('stages-chart', false);
  const segmentsChart = bar('segments-chart', true);
  const rateChart = new Chart($('rate-chart'), {
    type: 'line',
    data: { labels: [], datasets: [
      { label: 'events/s', data: [], borderColor: '#4e79a7', backgroundColor: '#4e79a7', pointRadius: 0, yAxisID: 'y' },
      { label: 'dead letters/s', data: [], borderColor: '#e15759', backgroundColor: '#e15759', pointRadius: 0, yAxisID: 'y1' },
    ] },
    options: { scales: { y: { beginAtZero: true }, y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false } } } },
  });

  const activeChart = new Chart($('active-chart'), {
    type: 'line',
    data: { labels: [], datasets: [
      { label: 'DAU', data: [], borderColor: '#4e79a7', backgroundColor: '#4e79a7', pointRadius: 0 },
      { label: 'WAU', data: [], borderColor: '#f28e2b', backgroundColor: '#f28e2b', pointRadius: 0 },
      { label: 'MAU', data: [], borderColor: '#59a14f', backgroundColor: '#59a14f', pointRadius: 0 },
    ] },
    options: { scales: { y: { beginAtZero: true } } },
  });
  const LEVELS = ['watch', 'at_risk', 'critical', 'recovered'];
  const LEVEL_COLORS = { watch: '#edc948', at_risk: '#f28e2b', critical: '#e15759', recovered: '#59a14f' };
  const warningsChart = new Chart($('warnings-chart'), {
    type: 'bar',
    data: { labels: [], datasets: [] },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } }, plugins: { legend: { labels: { boxWidth: 12 } } } },
  });
  const stageColor = (c, stage) => {
    const f = c.dataset.data[c.dataIndex];
    return (f && STAGE_COLORS[stage(f)]) || '#999';
  };
  // Sources on the left, targets on the right: a target's key ends in ' ›',
  // so that new → churned → new draws as two columns, not a cycle.
  const flowsChart = new Chart($('flows-chart'), {
    type: 'sankey',
    data: { datasets: [{ label: 'users', data: [], labels: {},
      colorFrom: (c) => stageColor(c, (f) => f.from),
      colorTo: (c) => stageColor(c, (f) => f.to.replace(' ›', '')),
      colorMode: 'gradient' }] },
  });

  // Known names first, in the domain's order, then any the server adds.
  const ordered = (obj, known) => known.filter((k) => k in obj).concat(Object.keys(obj).filter((k) => !known.includes(k)).sort());

  function setBars(chart, names, counts, colors) {
    chart.data.labels = names;
    chart.data.datasets[0].data = names.map((n) => counts[n]);
    chart.data.datasets[0].backgroundColor = colors;
    chart.update();
  }

  // rows fills tbody with one row per item: [key, cell, cell…]; the key goes
  // into data-key, so the counts can be found by name.
  function rows(tbody, items) {
    tbody.replaceChildren(...items.map(([key, ...cells]) => {
      const tr = document.createElement('tr');
      if (key !== null) tr.dataset.key = key;
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = c;
        tr.append(td);
      }
      return tr;
    }));
  }

  function draw(st) {
    const t = performance.now();
    let eventsRate = null;
    let dlqRate = null;
    // A restarted instance starts its counters again: no rate across that.
    if (prev && st.events_applied >= prev.applied && st.records_rejected >= prev.rejected) {
      const secs = (t - prev.t) / 1000;
      eventsRate = (st.events_applied - prev.applied) / secs;
      dlqRate = (st.records_rejected - prev.rejected) / secs;
    }
    prev = { t, applied: st.events_applied, rejected: st.records_rejected };

    $('stream-time').textContent = fmtTime(st.stream_time) +
      (st.stream_time_held ? ' (held: no input for --max-input-silence)' : '');
    $('rules').textContent = (st.rules.version ? st.rules.version + ' · ' : '') + st.rules.hash;
    $('partitions').textContent = fmt(st.partitions_owned);

    const stages = ordered(st.users_per_stage, STAGES);
    const users = stages.reduce((sum, s) => sum + st.users_per_stage[s], 0);
    const lag = st.lag.reduce((sum, l) => sum + l.records, 0);
    $('users').textContent = fmt(users);
    $('events-rate').textContent = fmtRate(eventsRate);
    $('dlq-rate').textContent = fmtRate(dlqRate);
    $('rejected').textContent = fmt(st.records_rejected);
    $('lag-total').textContent = st.lag.length ? fmt(lag) : '–';
    $('warnings').textContent = fmt(st.warnings);
    $('transitions').textContent = fmt(st.transitions);
    $('restoring').textContent = fmt(st.partitions_restoring);

    setBars(stagesChart, stages, st.users_per_stage, stages.map((s) => STAGE_COLORS[s] || '#999'));
    rows($('stages-table').tBodies[0], stages.map((s) => [s, s, fmt(st.users_per_stage[s]),
      users ? (100 * st.users_per_stage[s] / users).toFixed(1) + ' %' : '']));

    const segments = ordered(st.users_per_segment, SEGMENTS);
    setBars(segmentsChart, segments, st.users_per_segment, segments.map((s, i) => SEGMENT_COLORS[i] || '#999'));
    rows($('segments-table').tBodies[0], segments.map((s) => [s, s, fmt(st.users_per_segment[s])]));

    if (eventsRate !== null) {
      const d = rateChart.data;
      d.labels.push(new Date().toLocaleTimeString('en-GB'));
      d.datasets[0].data.push(eventsRate);
      d.datasets[1].data.push(dlqRate);
      if (d.labels.length > HISTORY) {
        d.labels.shift();
        d.datasets.forEach((ds) => ds.data.shift());
      }
      rateChart.update();
    }
    const lagByPartition = new Map();
    for (const l of st.lag) lagByPartition.set(l.partition, (lagByPartition.get(l.partition) || 0) + l.records);
    rows($('lag-table').tBodies[0], [...lagByPartition].sort((a, b) => a[0] - b[0]).map(([p, n]) => [String(p), p, fmt(n)]));
    rows($('recent-table').tBodies[0], st.recent_transitions.slice().reverse().map((r) =>
      [null, fmtTime(r.at), r.user_id, r.from, r.to, r.returned ? 'returned' : '']));

    page.stats = st;
    page.polls++;
  }

  const pct = (n, of) => (of ? (100 * n / of).toFixed(1) + ' %' : '–');
  // shade is a cell background from white to blue by v in [0, 1].
  const shade = (v) => `rgba(78, 121, 167, ${(0.08 + 0.8 * Math.min(Math.max(v, 0), 1)).toFixed(3)})`;

  // cells fills a table's body with rows of cells; each cell is
  // [text, value or null, key]; the key goes into data-key, the value into
  // data-value and the shade.
  function cells(tbody, rowsOf, max) {
    tbody.replaceChildren(...rowsOf.map((row) => {
      const tr = document.createElement('tr');
      for (const [text, value, key, header] of row) {
        const td = document.createElement(header ? 'th' : 'td');
        td.textContent = text;
        if (key) td.dataset.key = key;
        if (value !== null && value !== undefined) {
          td.dataset.value = value;
          td.style.background = shade(max ? value / max : 0);
        }
        tr.append(td);
      }
      return tr;
    }));
  }

  function drawFlows(fl) {
    const data = fl.flows.map((f) => ({ from: f.from, to: f.to + ' ›', flow: f.users }));
    const labels = {};
    for (const f of fl.flows) labels[f.to + ' ›'] = f.to;
    flowsChart.data.datasets[0].data = data;
    flowsChart.data.datasets[0].labels = labels;
    flowsChart.update();
    rows($('flows-table').tBodies[0], [['period', fl.from + ' – ' + fl.to, fmt(fl.churned), pct(fl.churned, fl.active_at_start),
      fmt(fl.returned), pct(fl.returned, fl.churned_at_start)]]);
  }

  function drawSegments(sg) {
    $('rfm-rebuilt').textContent = sg.rebuilt ? fmtTime(sg.rebuilt) : 'none yet';
    const grid = (values, num, text) => {
      const max = Math.max(0, ...values.flat().map(num));
      // Rows R5 (top) to R1, columns F1 to F5.
      const body = [4, 3, 2, 1, 0].map((r) => [['R' + (r + 1), null, null, true]].concat(
        [0, 1, 2, 3, 4].map((f) => [text(values[r][f]), num(values[r][f]), `R${r + 1}F${f + 1}`])));
      body.push([['', null, null, true]].concat([0, 1, 2, 3, 4].map((f) => ['F' + (f + 1), null, null, true])));
      return [body, max];
    };
    cells($('rfm-users').tBodies[0], ...grid(sg.users, Number, fmt));
    cells($('rfm-monetary').tBodies[0], ...grid(sg.monetary, Number, (m) => Number(m).toLocaleString('en-US', { maximumFractionDigits: 0 })));
    const names = ordered(sg.segments, SEGMENTS).filter((s) => s !== 'none');
    rows($('named-segments').tBodies[0], names.map((s) => [s, s, fmt(sg.segments[s])]));
  }

  function drawCohorts(co) {
    $('metrics-as-of').textContent = fmtTime(co.as_of);
    activeChart.data.labels = co.active.map((a) => a.day);
    activeChart.data.datasets[0].data = co.active.map((a) => a.dau);
    activeChart.data.datasets[1].data = co.active.map((a) => a.wau);
    activeChart.data.datasets[2].data = co.active.map((a) => a.mau);
    activeChart.update();
    const weeks = Math.max(0, ...co.weekly.map((c) => c.retained.length));
    const head = document.createElement('tr');
    for (const h of ['week of', 'users'].concat([...Array(weeks).keys()].map((k) => 'week ' + (k + 1)))) {
      const th = document.createElement('th');
      th.textContent = h;
      head.append(th);
    }
    $('cohort-table').tHead.replaceChildren(head);
    cells($('cohort-table').tBodies[0], co.weekly.map((c) => [[c.cohort, null, null, true], [fmt(c.users), null, 'users']].concat(
      c.retained.map((n, k) => [pct(n, c.users), c.users ? n / c.users : 0, 'k' + (k + 1)]))), 1);
  }

  function drawWarnings(wa) {
    const keys = [...new Set(wa.days.flatMap((d) => Object.keys(d.counts)))].sort((a, b) => {
      const [la, lb] = [LEVELS.indexOf(a.split('/')[0]), LEVELS.indexOf(b.split('/')[0])];
      return la !== lb ? la - lb : a.localeCompare(b);
    });
    warningsChart.data.labels = wa.days.map((d) => d.day);
    warningsChart.data.datasets = keys.map((k, i) => {
      const level = k.split('/')[0];
      return { label: k.replace('/', ': '), stack: level, data: wa.days.map((d) => d.counts[k] || 0),
        backgroundColor: LEVEL_COLORS[level] || '#999', borderColor: '#fff', borderWidth: 1 };
    });
    warningsChart.update();
  }

  async function getJSON(path) {
    const res = await fetch(path, { cache: 'no-store', headers: token ? { Authorization: 'Bearer ' + token } : {} });
    if (!res.ok) throw new Error(path + ': HTTP ' + res.status);
    return res.json();
  }

  async function pollMetrics() {
    try {
      const days = $('flow-days').value;
      const [cohorts, flows, segments, warnings] = await Promise.all([
        getJSON('v1/cohorts?days=35'), getJSON('v1/flows?days=' + days), getJSON('v1/segments'), getJSON('v1/warnings?days=35')]);
      drawCohorts(cohorts);
      drawFlows(flows);
      drawSegments(segments);
      drawWarnings(warnings);
      page.metrics = { cohorts, flows, segments, warnings };
      page.metricsPolls++;
    } catch (err) {
      status('no answer from the retention views (' + err.message + ')', true);
    }
  }
  let metricsTimer = null;
  function scheduleMetrics() {
    clearTimeout(metricsTimer);
    pollMetrics().finally(() => { metricsTimer = setTimeout(scheduleMetrics, METRICS_MS); });
  }
  $('flow-days').addEventListener('change', scheduleMetrics);

  function status(text, bad) {
    $('status').textContent = text;
    $('status').classList.toggle('bad', bad);
  }

  async function poll() {
    try {
      const res = await fetch('v1/stats', { cache: 'no-store', headers: token ? { Authorization: 'Bearer ' + token } : {} });
      if (res.status === 401) {
        $('token-form').hidden = false;
        status(token ? 'the token was refused' : 'a token is needed', true);
        return; // polling resumes when a token is given
      }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      draw(await res.json());
      status('updated ' + new Date().toLocaleTimeString('en-GB'), false);
      if (metricsTimer === null) scheduleMetrics(); // once the token (if any) is known to work
    } catch (err) {
      status('no answer from /v1/stats (' + err.message + '): the numbers shown are stale', true);
    }
    setTimeout(poll, POLL_MS);
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('token').value.trim();
    sessionStorage.setItem('lifecycle-token', token);
    $('token-form').hidden = true;
    poll();
  });
  poll();
})();
