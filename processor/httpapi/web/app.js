// The operator's page: polls /v1/stats every 2 s and draws it with Chart.js.
// Rates (events/s, dead letters/s) are differences between successive polls.
'use strict';
(() => {
  const POLL_MS = 2000;
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
  const page = (window.lifecyclePage = { polls: 0, stats: null });
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

    $('stream-time').textContent = fmtTime(st.stream_time);
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
