// The page's whole behaviour: an EventSource on /events adds records as
// they arrive (newest first) and shows the broker status; the form POSTs a
// message to /send. Payloads only ever go into textContent, never HTML.
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
        result.textContent = `sent to partition ${body.partition}, offset ${body.offset}`;
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
