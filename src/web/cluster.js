// The cluster page: an EventSource on /cluster/events gets the cluster's
// view (the JSON `kafkademo top --once --format json` prints) after every
// snapshot and redraws: one column per broker, one row per partition, a box
// per replica in its broker's column. Every text from the cluster goes in
// with textContent, never as HTML. Each group's lag is kept for the last
// SPARK snapshots and drawn as a sparkline.
'use strict';

(() => {
  const SPARK = 60;
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const lags = new Map(); // group -> [lag, ...], oldest first

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setStatus(state, text) {
    const status = $('status');
    status.className = 'status ' + state;
    status.dataset.state = state;
    $('status-text').textContent = text;
  }

  function drawGrid(view) {
    const grid = $('grid');
    const brokers = view.brokers;
    const topics = view.topics.filter((t) => !t.internal);
    grid.replaceChildren();
    grid.style.gridTemplateColumns = `max-content repeat(${Math.max(brokers.length, 1)}, minmax(7rem, 1fr))`;
    grid.appendChild(el('div', 'corner', 'partition'));
    for (const b of brokers) {
      const head = el('div', 'broker');
      head.dataset.broker = String(b.id);
      head.dataset.status = b.status;
      const isController = view.controller === b.id;
      head.dataset.controller = isController ? 'yes' : 'no';
      const name = el('strong', '', `broker ${b.id}`);
      head.appendChild(name);
      if (isController) {
        const star = el('span', 'controller-mark', ' ★');
        star.title = 'controller';
        head.appendChild(star);
      }
      head.appendChild(el('span', 'addr', b.addr));
      head.appendChild(el('span', 'bstatus', `${b.status} · leads ${b.leaders}`));
      grid.appendChild(head);
    }
    for (const t of topics) {
      for (const p of t.partitions) {
        const offline = p.leader === null;
        const label = el('div', 'plabel' + (offline ? ' offline' : ''), `${t.name}-${p.partition}`);
        label.title = `log end ${p.log_end === null ? '-' : p.log_end}` + (offline ? ' · OFFLINE: no leader' : '');
        if (offline) label.textContent += ' offline';
        grid.appendChild(label);
        for (const b of brokers) {
          const cell = el('div', 'cell');
          if (p.replicas.includes(b.id)) {
            let role = 'isr';
            if (offline) role = 'offline';
            else if (p.leader === b.id) role = 'leader';
            else if (!p.isr.includes(b.id)) role = 'out-of-sync';
            const text = { leader: 'leader', isr: 'in sync', 'out-of-sync': 'out of sync', offline: 'offline' }[role];
            const box = el('span', 'replica ' + role, text);
            box.dataset.topic = t.name;
            box.dataset.partition = String(p.partition);
            box.dataset.broker = String(b.id);
            box.dataset.role = role;
            cell.appendChild(box);
          }
          grid.appendChild(cell);
        }
      }
    }
    $('no-topics').hidden = topics.length > 0;
  }

  function sparkline(values) {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', `0 0 ${SPARK - 1} 20`);
    svg.setAttribute('preserveAspectRatio', 'none');
    const known = values.filter((v) => v !== null);
    const max = Math.max(1, ...known);
    const points = [];
    values.forEach((v, i) => {
      if (v !== null) points.push(`${i + SPARK - values.length},${(19 - (v / max) * 18).toFixed(2)}`);
    });
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points.join(' '));
    svg.appendChild(line);
    return svg;
  }

  function timeLag(v) {
    if (v === null) return '-';
    if (typeof v === 'string') return v;
    return v < 10000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v / 1000)}s`;
  }

  function drawGroups(view) {
    const body = $('groups').querySelector('tbody');
    body.replaceChildren();
    const present = new Set();
    for (const g of view.groups) {
      present.add(g.name);
      const series = lags.get(g.name) || [];
      series.push(g.lag);
      while (series.length > SPARK) series.shift();
      lags.set(g.name, series);
      const row = el('tr');
      row.dataset.group = g.name;
      row.dataset.status = g.status;
      row.dataset.lag = g.lag === null ? '' : String(g.lag);
      row.appendChild(el('td', '', g.name));
      const st = el('td');
      st.appendChild(el('span', 'gstatus ' + g.status, g.status));
      row.appendChild(st);
      row.appendChild(el('td', '', g.state));
      row.appendChild(el('td', 'num', String(g.members)));
      row.appendChild(el('td', 'num lag', g.lag === null ? '-' : String(g.lag)));
      row.appendChild(el('td', 'num', timeLag(g.time_lag)));
      const spark = el('td');
      spark.appendChild(sparkline(series));
      row.appendChild(spark);
      body.appendChild(row);
    }
    for (const name of [...lags.keys()]) if (!present.has(name)) lags.delete(name);
    $('no-groups').hidden = view.groups.length > 0;
  }

  function draw(msg) {
    if (msg.up) {
      const when = new Date(msg.view.taken_at_ms).toLocaleTimeString();
      setStatus('connected', `snapshot ${when}`);
    } else {
      setStatus('unreachable', msg.error ? `cluster unreachable: ${msg.error}` : 'no recent snapshot');
    }
    if (msg.view) {
      drawGrid(msg.view);
      drawGroups(msg.view);
      $('problems').textContent = (msg.view.problems || []).join('\n');
    }
  }

  const source = new EventSource('cluster/events');
  source.addEventListener('cluster', (e) => {
    try {
      draw(JSON.parse(e.data));
    } catch (err) {
      setStatus('error', `bad update: ${err}`);
    }
  });
  source.addEventListener('open', () => {
    if ($('status').dataset.state !== 'connected') setStatus('connecting', 'waiting for a snapshot…');
  });
  source.addEventListener('error', () => setStatus('offline', 'the page lost the server; reconnecting…'));
})();
