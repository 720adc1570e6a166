// The page's whole behaviour: an EventSource on /events adds records as
// they arrive (newest first) and shows the broker status; records that are
// window counts (`kafkademo stream count`) also feed a bar chart; the form
// POSTs a message to /send. Payloads only ever go into textContent, never
// HTML.
'use strict';

(() => {
  const MAX_ROWS = 500;
  const $ = (id) => document.getElementById(id);
  const list = $('records');
  const seen = new Set();
  const counts = { A: 0, B: 0, other: 0 };

  function setStatus(state, text) {
    const status = $('status');
    status.className = 'status ' + state;
    status.dataset.state = state;
    $('status-text').textContent = text;
  }

  function span(cls, text) {
    const el = document.createElement('span');
    el.className = cls;
    el.textContent = text;
    return el;
  }

  // The chart: the latest value per record key (an upsert, as in the
  // compacted topic), one bar per key for each of the last WINDOWS windows.
  const WINDOWS = 6;
  const [W, H, TOP, BOTTOM] = [900, 240, 22, 44]; // the SVG's viewBox
  const windowCounts = new Map(); // record key -> {key, start, end, count}
  const palette = new Map(); // keys other than A and B -> colour slot
  let drawPending = false;

  // {key, window_start, window_end, count} as `stream count` writes it, or null.
  function windowCount(r) {
    if (r.truncated || r.escaped || typeof r.value !== 'string' || r.value[0] !== '{') return null;
    let v;
    try { v = JSON.parse(r.value); } catch (err) { return null; }
    const int = Number.isSafeInteger;
    if (!v || typeof v.key !== 'string' || !int(v.window_start) || !int(v.window_end) || !int(v.count)) return null;
    return { key: v.key, start: v.window_start, end: v.window_end, count: v.count };
  }

  function colour(key) {
    if (key === 'A' || key === 'B') return 'key-' + key;
    if (!palette.has(key)) palette.set(key, palette.size % 5);
    return 'palette-' + palette.get(key);
  }

  // HH:MM:SS in the browser's time zone
  function clock(ms) {
    const d = new Date(ms);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
  }

  function svg(name, attrs, text) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function updateChart(r) {
    const w = windowCount(r);
    if (w) {
      windowCounts.set(r.key === null ? `${w.key}@${w.start}` : r.key, w);
    } else if (!(r.key !== null && windowCounts.delete(r.key))) {
      return; // neither a count nor a record that replaces one
    }
    if (!drawPending) {
      drawPending = true;
      setTimeout(drawChart, 100); // one drawing for a burst (a replay)
    }
  }

  function drawChart() {
    drawPending = false;
    const starts = [...new Set([...windowCounts.values()].map((w) => w.start))].sort((a, b) => a - b).slice(-WINDOWS);
    $('chart').hidden = starts.length === 0;
    for (const [id, w] of windowCounts) if (w.start < starts[0]) windowCounts.delete(id);
    const shown = [...windowCounts.values()];
    const keys = [...new Set(shown.map((w) => w.key))].sort();
    const max = Math.max(1, ...shown.map((w) => w.count));
    const slot = W / WINDOWS;
    const width = Math.min(48, (slot - 16) / keys.length);
    const base = H - BOTTOM;
    const chart = $('chart-bars');
    chart.replaceChildren(svg('line', { class: 'axis', x1: 0, x2: W, y1: base, y2: base }));
    starts.forEach((start, i) => {
      const counts = shown.filter((w) => w.start === start);
      const span = `${clock(start)} – ${clock(counts[0].end)}`;
      const g = svg('g', { class: 'window', 'data-start': start });
      const left = i * slot + (slot - width * keys.length) / 2;
      keys.forEach((key, k) => {
        const w = counts.find((c) => c.key === key);
        if (!w) return;
        const h = (Math.max(0, w.count) / max) * (base - TOP);
        const mid = left + (k + 0.5) * width;
        const bar = svg('g', { class: 'bar', 'data-key': key, 'data-count': w.count });
        bar.append(
          svg('title', {}, `${key}: ${w.count} in ${span}`),
          svg('rect', { class: colour(key), x: left + k * width + 2, y: base - h, width: width - 4, height: h }),
          svg('text', { class: 'bar-count', x: mid, y: base - h - 5 }, String(w.count)),
          svg('text', { class: 'bar-key', x: mid, y: base + 15 }, key.length > 8 ? key.slice(0, 7) + '…' : key),
        );
        g.append(bar);
      });
      g.append(svg('text', { class: 'window-label', x: (i + 0.5) * slot, y: H - 8 }, span));
      chart.append(g);
    });
  }

  function showCounts() {
    $('counts').textContent = `· seen: A ${counts.A}, B ${counts.B}, other ${counts.other}`;
  }

  function addRecord(r) {
    const id = r.partition + ':' + r.offset;
    if (seen.has(id)) return; // a replay after a reconnect
    seen.add(id);
    const parity = typeof r.origin === 'string';
    const origin = parity && (r.origin === 'A' || r.origin === 'B') ? r.origin : 'other';
    counts[origin] += 1;

    const li = document.createElement('li');
    li.className = 'record origin-' + origin + (r.escaped ? ' escaped' : '');
    li.dataset.partition = r.partition;
    li.dataset.offset = r.offset;
    li.dataset.origin = parity ? r.origin : '';
    li.append(span('badge origin-' + origin, parity ? r.origin : (r.key === null ? '—' : r.key)));
    let text = parity ? String(r.number) : r.value;
    if (r.truncated) text += ` … (${r.truncated} bytes)`;
    li.append(span('value', text));
    li.append(span('meta', `partition ${r.partition} · offset ${r.offset}`));
    list.prepend(li);
    while (list.children.length > MAX_ROWS) {
      const last = list.lastElementChild;
      seen.delete(last.dataset.partition + ':' + last.dataset.offset);
      last.remove();
    }
    $('empty').hidden = true;
    showCounts();
    updateChart(r);
  }

  let source = null;
  function connect() {
    source = new EventSource('events');
    source.addEventListener('record', (e) => addRecord(JSON.parse(e.data)));
    source.addEventListener('status', (e) => {
      const s = JSON.parse(e.data);
      $('topic').textContent = s.topic;
      document.title = `${s.topic} · kafkademo web`;
      setStatus(s.state, s.message);
    });
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) {
        // refused (e.g. too many pages): the browser gives up, we do not
        setStatus('offline', 'the server refused the stream; retrying…');
        setTimeout(connect, 3000);
      } else {
        setStatus('offline', 'server unreachable; reconnecting…');
      }
    });
  }

  $('send').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = e.target;
    const result = $('send-result');
    const button = $('send-button');
    button.disabled = true;
    result.className = '';
    result.textContent = 'sending…';
    try {
      const response = await fetch('send', { method: 'POST', body: new URLSearchParams(new FormData(form)) });
      const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
      if (response.ok) {
        // offset null: the broker gave none (the message is written).
        result.textContent = `sent to partition ${body.partition}, offset ${body.offset ?? 'unknown'}`;
        $('value').value = '';
      } else {
        result.className = 'error';
        result.textContent = body.error || `HTTP ${response.status}`;
      }
    } catch (err) {
      result.className = 'error';
      result.textContent = 'cannot reach the server';
    } finally {
      button.disabled = false;
      $('value').focus();
    }
  });

  showCounts();
  connect();
})();
