/*
 * Grapevine stats page. Polls stats.json, stats/events.json and stats/history.json every two seconds and
 * draws what they hold: no framework, nothing loaded from elsewhere. Every value from the proxy (server and
 * member names come from the network) reaches the page as text nodes, never as markup.
 *
 * The page renders what the document has: a server or pool field it does not know is still listed in the
 * row's details, and optional columns (queue, effective weight) appear when some row carries them.
 *
 * For tests: <html data-state="ready"> after the first complete render; data-js-errors lists script errors;
 * data-clipped lists the tiles' texts that do not fit (cut off, an ellipsis in their place).
 */
(function () {
  'use strict';

  var POLL_MS = 2000;
  var TOKEN_KEY = 'grapevine.adminToken';
  var root = document.documentElement;
  var jsErrors = [];

  window.addEventListener('error', function (e) { reportError(e.message || String(e)); });
  window.addEventListener('unhandledrejection', function (e) {
    var r = e.reason;
    reportError('unhandled rejection: ' + (r && r.message ? r.message : String(r)));
  });

  function reportError(message) {
    jsErrors.push(message);
    root.setAttribute('data-js-errors', jsErrors.join(' | '));
    banner('Page error: ' + message);
  }

  // ------------------------------------------------------------------ small helpers

  /** h('td', {class: 'l', title: 'x'}, child, 'text', [more]) */
  function h(tag, props) {
    var el = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        var v = props[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
        else if (k === 'style') el.style.cssText = v;
        else el.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }

  function svg(tag, attrs) {
    var el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    return el;
  }

  function $(id) { return document.getElementById(id); }

  function num(v) { return typeof v === 'number' && isFinite(v); }

  function count(v) {
    if (!num(v)) return '\u2013';
    if (Math.abs(v) < 10000) return String(Math.round(v));
    if (Math.abs(v) < 1e6) return (v / 1e3).toFixed(v < 1e5 ? 1 : 0) + 'k';
    if (Math.abs(v) < 1e9) return (v / 1e6).toFixed(1) + 'M';
    return (v / 1e9).toFixed(1) + 'G';
  }

  function rate(v) {
    if (!num(v)) return '\u2013';
    if (v === 0) return '0';
    if (v < 10) return v.toFixed(1);
    return count(v);
  }

  function ms(v) {
    if (!num(v)) return '\u2013';
    if (v === 0) return '0 ms';
    if (v < 1) return v.toFixed(2) + ' ms';
    if (v < 10) return v.toFixed(1) + ' ms';
    if (v < 1000) return Math.round(v) + ' ms';
    return (v / 1000).toFixed(v < 10000 ? 2 : 1) + ' s';
  }

  function bytes(v) {
    if (!num(v)) return '\u2013';
    var units = ['B', 'kB', 'MB', 'GB', 'TB'];
    var i = 0;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i === 0 ? v : v.toFixed(1)) + ' ' + units[i];
  }

  function duration(millis) {
    if (!num(millis) || millis < 0) return '\u2013';
    var s = Math.floor(millis / 1000);
    if (s < 60) return s + 's';
    var m = Math.floor(s / 60);
    if (m < 60) return m + 'm ' + (s % 60) + 's';
    var hr = Math.floor(m / 60);
    if (hr < 48) return hr + 'h ' + (m % 60) + 'm';
    return Math.floor(hr / 24) + 'd ' + (hr % 24) + 'h';
  }

  function clock(millis) {
    var d = new Date(millis);
    function p(n) { return (n < 10 ? '0' : '') + n; }
    return p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }

  function get(obj, path) {
    var v = obj;
    for (var i = 0; i < path.length; i++) {
      if (v === null || typeof v !== 'object') return undefined;
      v = v[path[i]];
    }
    return v;
  }

  /** {a: {b: 1}} -> [['a.b', 1]] */
  function flatten(obj, prefix, out) {
    out = out || [];
    Object.keys(obj).forEach(function (k) {
      var v = obj[k];
      var key = prefix ? prefix + '.' + k : k;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v, key, out);
      else out.push([key, v]);
    });
    return out;
  }

  function show(v, key) {
    if (v === null || v === undefined) return '\u2013';
    if (typeof v === 'number') {
      if (/_ms$/.test(key) && v > 1e12) return clock(v); // a wall-clock time, not a duration
      if (/(^|_)bytes(_|$)|^direct_memory_/.test(key)) return bytes(v) + ' (' + v + ')'; // sizes in bytes
      if (/_ms$/.test(key)) return ms(v);
      return Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100);
    }
    if (Array.isArray(v)) return v.join(', ');
    return String(v);
  }

  // ------------------------------------------------------------------ state

  var stats = null;
  var events = null;
  var history = null;
  var lastOk = 0;
  var expanded = {};
  var filter = 'all';
  var renders = 0;

  /** The state a row is drawn in: up, down, drain, maint, slow, gone; slow start from a reduced effective weight. */
  function stateClass(row) {
    var s = String(row.state || '').toLowerCase();
    if (s === 'up' && num(row.effective_weight) && num(row.weight) && row.effective_weight < row.weight) return 'slow';
    if (s === 'up' || s === 'ready') return 'up';
    if (s === 'draining' || s === 'drain') return 'drain';
    if (s === 'maint' || s === 'maintenance') return 'maint';
    if (s === 'slowstart' || s === 'slow_start' || s === 'slow start' || s === 'warming') return 'slow';
    if (s === 'removed') return 'gone';
    return 'down';
  }

  function stateLabel(row) {
    var c = stateClass(row);
    if (c === 'slow') return 'slow start';
    if (c === 'drain') return 'draining';
    return String(row.state || 'unknown');
  }

  // ------------------------------------------------------------------ polling

  function fetchJson(path) {
    return fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } }).then(function (r) {
      if (!r.ok) throw new Error(path + ' answered ' + r.status);
      return r.json();
    });
  }

  function poll() {
    Promise.all([fetchJson('stats.json'), fetchJson('stats/events.json'), fetchJson('stats/history.json')])
      .then(function (all) {
        stats = all[0];
        events = all[1];
        history = all[2];
        lastOk = Date.now();
        banner(null);
        render();
      }, function (err) {
        banner('The admin listener does not answer (' + err.message + '); showing what it said at '
          + (lastOk ? clock(lastOk) : 'no time yet') + '.');
        live();
      })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  function banner(text) {
    var b = $('banner');
    if (!text) { if (!jsErrors.length) b.hidden = true; return; }
    b.textContent = text;
    b.hidden = false;
  }

  function live() {
    var el = $('live');
    var age = Date.now() - lastOk;
    var ok = lastOk && age < POLL_MS * 3;
    el.className = 'live ' + (ok ? 'ok' : 'stale');
    $('live-text').textContent = !lastOk ? 'connecting' : ok ? 'live \u00b7 ' + clock(lastOk)
      : 'stale \u00b7 ' + duration(age) + ' old';
  }

  function render() {
    var busy = document.activeElement && document.activeElement.closest && document.activeElement.closest('#pools');
    renderMeta();
    renderTiles();
    renderCharts();
    if (!busy) renderPools();
    renderEvents();
    renderProxy();
    live();
    renders++;
    root.setAttribute('data-renders', String(renders));
    root.setAttribute('data-state', 'ready');
    root.setAttribute('data-height', String(document.documentElement.scrollHeight));
    var clipped = [];
    document.querySelectorAll('.tile .value, .tile .note').forEach(function (el) {
      if (el.scrollWidth > el.clientWidth + 1) clipped.push(el.textContent);
    });
    if (clipped.length) root.setAttribute('data-clipped', clipped.join(' | '));
    else root.removeAttribute('data-clipped');
  }

  setInterval(live, 1000);

  // ------------------------------------------------------------------ header and tiles

  function renderMeta() {
    var p = stats.proxy || {};
    var servers = stats.servers || [];
    var pools = stats.pools || [];
    $('meta').textContent = 'table generation ' + stats.generation + ' \u00b7 up ' + duration((p.uptime_s || 0) * 1000)
      + ' \u00b7 ' + servers.length + ' server' + (servers.length === 1 ? '' : 's') + ' in ' + pools.length
      + ' pool' + (pools.length === 1 ? '' : 's');
  }

  function tile(label, value, note, cls) {
    return h('div', { class: 'tile' + (cls ? ' ' + cls : '') }, h('div', { class: 'label', text: label }),
      h('div', { class: 'value' }, value), note ? h('div', { class: 'note' }, note) : null);
  }

  function lastSample(name, column) {
    var s = history && history.series && history.series[name];
    if (!s || !s[column] || !s[column].length) return undefined;
    return s[column][s[column].length - 1];
  }

  function renderTiles() {
    var p = stats.proxy || {};
    var win = get(p, ['latency', 'total', 'window']) || {};
    var up = get(p, ['latency', 'upstream', 'window']) || {};
    var errorsNow = lastSample('*', 'errors_per_s');
    var byState = {};
    (stats.servers || []).forEach(function (s) { var c = stateClass(s); byState[c] = (byState[c] || 0) + 1; });
    var order = ['up', 'slow', 'drain', 'maint', 'down', 'gone'];
    var names = { up: 'up', slow: 'slow start', drain: 'draining', maint: 'maint', down: 'down', gone: 'removed' };
    var total = (stats.servers || []).length;
    var tiles = $('tiles');
    tiles.replaceChildren(
      tile('Requests / s', rate(p.request_rate), 'max ' + rate(p.request_rate_max) + ' \u00b7 ' + count(p.requests) + ' in all'),
      tile('Latency p50 / p99', [ms(win.p50_ms), h('small', null, ' / '), ms(win.p99_ms)],
        'last ' + (stats.window_s || 60) + ' s \u00b7 p99.9 ' + ms(win.p999_ms) + ' \u00b7 ' + count(win.count) + ' req'),
      tile('Backend p99', ms(up.p99_ms), 'upstream head time \u00b7 p50 ' + ms(up.p50_ms)),
      tile('Errors / s', rate(errorsNow), '5xx ' + count(p.responses_5xx) + ' \u00b7 cut ' + count(p.aborted_responses)
        + ' \u00b7 proxy 502/503/504 ' + count(p.local_502) + '/' + count(p.local_503) + '/' + count(p.local_504),
        errorsNow > 0 ? 'bad' : ''),
      tile('Connections', count(p.connections_current), 'max ' + count(p.connections_max) + ' of '
        + count(p.connections_limit) + ' \u00b7 ' + rate(p.connection_rate) + '/s'),
      tile('Servers', [String(byState.up || 0), h('small', null, ' / ' + total + ' up')],
        h('div', { class: 'counts' }, order.filter(function (k) { return byState[k]; }).map(function (k) {
          return h('span', { class: 'pill st-' + k, text: byState[k] + ' ' + names[k] });
        })), (byState.down || 0) > 0 ? 'bad' : '')
    );
  }

  // ------------------------------------------------------------------ charts

  var PALETTE = ['#6d3fb5', '#0f8b8d', '#d98b19', '#3b7dd8', '#c2418e', '#5b8c2a', '#8a5a44', '#4b5563'];

  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  /**
   * Draws series ({name, color, values, area, dash, width}) over times t (ms) into el: an inline SVG that fits
   * the element's width; a gap (null) breaks a line.
   */
  function drawChart(el, t, series, unit) {
    var width = Math.max(240, el.clientWidth || 600);
    var height = el.clientHeight || 150;
    var left = 40, right = 8, top = 8, bottom = 18;
    var w = width - left - right, hgt = height - top - bottom;
    var s = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, role: 'img' });
    var end = t.length ? t[t.length - 1] : Date.now();
    var span = chartSpan(t);
    var start = end - span;
    var step = span <= 60000 ? 15000 : 60000;
    var max = 0;
    series.forEach(function (se) { se.values.forEach(function (v) { if (num(v) && v > max) max = v; }); });
    var ymax = niceMax(max);
    function x(ti) { return left + (ti - start) / span * w; }
    function y(v) { return top + hgt - v / ymax * hgt; }
    for (var g = 0; g <= 4; g++) {
      var gv = ymax * g / 4;
      s.appendChild(svg('line', { class: 'grid', x1: left, x2: left + w, y1: y(gv), y2: y(gv) }));
      var label = svg('text', { class: 'axis', x: left - 5, y: y(gv) + 3.5, 'text-anchor': 'end' });
      // A latency says its unit, one unit per axis: seconds once the scale reaches one (0.5s, not a bare 500).
      label.textContent = unit !== 'ms' ? (gv < 10 && gv % 1 ? gv.toFixed(1) : count(gv))
        : gv === 0 ? '0' : ymax >= 1000 ? (gv / 1000) + 's'
        : (gv < 10 && gv % 1 ? gv.toFixed(1) : Math.round(gv)) + 'ms';
      s.appendChild(label);
    }
    var ticks = Math.round(span / step);
    for (var m = 0; m <= ticks; m++) {
      var ago = (ticks - m) * step;
      var tx = svg('text', { class: 'axis', x: x(start + m * step), y: height - 4,
        'text-anchor': m === 0 ? 'start' : m === ticks ? 'end' : 'middle' });
      tx.textContent = ago === 0 ? 'now' : '\u2212' + (step < 60000 ? ago / 1000 + 's' : ago / 60000 + 'm');
      s.appendChild(tx);
    }
    var any = false;
    series.forEach(function (se) {
      var runs = [];
      var run = [];
      for (var i = 0; i < t.length; i++) {
        var v = se.values[i];
        if (!num(v) || t[i] < start) { if (run.length) runs.push(run); run = []; continue; }
        run.push([x(t[i]), y(v)]);
      }
      if (run.length) runs.push(run);
      runs.forEach(function (r) {
        any = true;
        var pts = r.map(function (pt) { return pt[0].toFixed(1) + ',' + pt[1].toFixed(1); }).join(' ');
        if (se.area && r.length > 1) {
          s.appendChild(svg('polygon', { points: r[0][0].toFixed(1) + ',' + y(0) + ' ' + pts + ' '
            + r[r.length - 1][0].toFixed(1) + ',' + y(0), fill: se.color, 'fill-opacity': '0.12', stroke: 'none' }));
        }
        if (r.length === 1) {
          s.appendChild(svg('circle', { cx: r[0][0], cy: r[0][1], r: 1.8, fill: se.color }));
        } else {
          s.appendChild(svg('polyline', { points: pts, fill: 'none', stroke: se.color, 'stroke-width': se.width || 1.6,
            'stroke-linejoin': 'round', 'stroke-dasharray': se.dash || '' }));
        }
      });
    });
    if (!any) {
      var empty = svg('text', { class: 'empty', x: left + w / 2, y: top + hgt / 2, 'text-anchor': 'middle' });
      empty.textContent = 'no requests in this time';
      s.appendChild(empty);
    }
    var legend = h('div', { class: 'legend' }, series.filter(function (se) { return !se.hideLegend; }).map(function (se) {
      return h('span', null, h('i', { style: 'background:' + se.color }), se.name);
    }));
    el.replaceChildren(s);
    el.parentNode.querySelectorAll('.legend').forEach(function (l) { l.remove(); });
    el.parentNode.appendChild(legend);
  }

  /** The time the charts span: the history there is, in whole minutes, from one minute to five. */
  function chartSpan(t) {
    var have = t.length ? t[t.length - 1] - t[0] : 0;
    return Math.min(300000, Math.max(60000, Math.ceil(have / 60000) * 60000));
  }

  function renderCharts() {
    if (!history || !history.series) return;
    var all = history.series['*'] || { t_ms: [], requests_per_s: [], errors_per_s: [], p99_ms: [] };
    var minutes = chartSpan(all.t_ms) / 60000;
    var last = minutes === 1 ? 'last minute' : 'last ' + minutes + ' minutes';
    $('rate-span').textContent = 'and errors, ' + last;
    $('p99-span').textContent = 'total time per request, ' + last;
    var pools = Object.keys(history.series).filter(function (k) { return k !== '*'; });
    var colors = {};
    pools.forEach(function (name, i) { colors[name] = PALETTE[(i + 1) % PALETTE.length]; });
    var rateSeries = [{ name: 'all requests', color: PALETTE[0], values: all.requests_per_s, area: true, width: 2 },
      { name: 'errors', color: '#d23f3f', values: all.errors_per_s, width: 1.6 }];
    var p99Series = [{ name: 'all pools', color: PALETTE[0], values: all.p99_ms, width: 2 }];
    if (pools.length > 1) {
      pools.forEach(function (name) {
        var ps = history.series[name];
        rateSeries.push({ name: 'pool ' + name, color: colors[name], values: align(ps, all, 'requests_per_s'), dash: '4 3' });
        p99Series.push({ name: 'pool ' + name, color: colors[name], values: align(ps, all, 'p99_ms'), width: 1.4 });
      });
    }
    drawChart($('chart-rate'), all.t_ms, rateSeries, '/s');
    drawChart($('chart-p99'), all.t_ms, p99Series, 'ms');
  }

  /** A pool's column on the time axis of the proxy's series (a pool may have fewer samples). */
  function align(pool, all, column) {
    var byTime = {};
    pool.t_ms.forEach(function (t, i) { byTime[Math.round(t / 1000)] = pool[column][i]; });
    return all.t_ms.map(function (t) {
      var k = Math.round(t / 1000);
      return byTime[k] !== undefined ? byTime[k] : byTime[k - 1] !== undefined ? byTime[k - 1] : null;
    });
  }

  // ------------------------------------------------------------------ pools and servers

  function renderPools() {
    var container = $('pools');
    var servers = stats.servers || [];
    var pools = (stats.pools || []).slice();
    servers.forEach(function (s) {
      if (!pools.some(function (p) { return p.name === s.pool; })) pools.push({ name: s.pool });
    });
    if (!pools.length) {
      container.replaceChildren(h('div', { class: 'pool' }, h('div', { class: 'pool-head' },
        h('h2', { text: 'No servers in the table' }), h('span', { class: 'dim',
          text: 'add backend_servers to servers.conf, or start an agent that joins this proxy' }))));
      return;
    }
    var hasQueue = servers.some(function (s) { return 'queue_current' in s || 'queue' in s; });
    var hasLimit = servers.some(function (s) { return num(s.max_conn); });
    container.replaceChildren.apply(container, pools.map(function (p) {
      return renderPool(p, servers.filter(function (s) { return s.pool === p.name; }), hasQueue, hasLimit);
    }));
  }

  function fig(value, label, cls, title) {
    return h('span', { class: 'fig' + (cls ? ' ' + cls : ''), title: title }, h('b', null, value), ' ',
      h('span', { text: label }));
  }

  function renderPool(p, servers, hasQueue, hasLimit) {
    var win = get(p, ['latency', 'total', 'window']) || {};
    var down = p.state === 'down';
    var poolErrors = (p.connect_errors || 0) + (p.response_errors || 0);
    var head = h('div', { class: 'pool-head' },
      h('h2', { text: p.name }),
      p.balance ? h('span', { class: 'algo', text: p.balance }) : null,
      p.compression ? h('span', { class: 'algo', text: p.compression }) : null,
      p.rate_limit ? h('span', { class: 'algo', text: 'limit ' + p.rate_limit }) : null,
      p.state ? h('span', { class: 'pill st-' + (down ? 'down' : 'up'), text: down ? 'DOWN' : 'UP' }) : null,
      num(p.state_since_ms) && p.state_since_ms > 0 ? h('span', { class: 'dim', text: 'for ' + duration(stats.now_ms - p.state_since_ms) }) : null,
      num(p.servers_available) ? fig(p.servers_available + '/' + p.servers, 'available') : null,
      fig(rate(p.request_rate), 'req/s'),
      fig(ms(win.p50_ms), 'p50'), fig(ms(win.p99_ms), 'p99'),
      num(p.in_flight) ? fig(count(p.in_flight), 'in flight') : null,
      'queue_current' in p ? fig(count(p.queue_current), 'queued') : null,
      fig(count(p.responses_5xx), '5xx', p.responses_5xx > 0 ? 'err' : ''),
      fig(count(poolErrors), poolErrors === 1 ? 'error' : 'errors', poolErrors > 0 ? 'err' : ''),
      // The 503s the proxy answered for the pool itself: its servers failed none of them.
      num(p.shed) ? fig(count(p.shed), 'shed', p.shed > 0 ? 'err' : '', 'answered 503 by the proxy: no server '
        + count(p.no_server) + ', queue full ' + count(p.queue_full) + ', queue timeout ' + count(p.queue_timeouts))
        : null,
      // The 429s of the pool's rate limit: clients over it, not a fault of the servers.
      num(p.rate_limited) && p.rate_limited > 0 ? fig(count(p.rate_limited), 'rate-limited', '',
        'answered 429 by the proxy: clients over ' + (p.rate_limit ? 'the limit ' + p.rate_limit : 'the rate limit'))
        : null);
    var cols = [
      ['Server', 'l first'], ['State', 'l'], ['Weight', ''], ['Sessions', ''],
      hasQueue ? ['Queue', ''] : null, ['Req/s', ''], ['p50', ''], ['p99', ''],
      ['2xx', ''], ['3xx', 'opt hide-narrow'], ['4xx', 'opt hide-narrow'], ['5xx', ''], ['Errors', ''],
      ['Retries', 'opt hide-narrow'], ['Last check', 'l'], ['Actions', 'l']
    ].filter(Boolean);
    var thead = h('thead', null, h('tr', null, cols.map(function (c) {
      return h('th', { class: c[1].replace('first', '').trim() || null, text: c[0] });
    })));
    var tbody = h('tbody');
    servers.forEach(function (s) {
      var key = s.pool + '/' + s.name;
      var tr = serverRow(s, cols, hasQueue, hasLimit, key);
      tbody.appendChild(tr);
      if (expanded[key]) tbody.appendChild(detailsRow(s, cols.length));
    });
    if (!servers.length) {
      tbody.appendChild(h('tr', null, h('td', { class: 'l dim', colspan: cols.length, text: 'no servers' })));
    }
    return h('div', { class: 'pool' + (down ? ' down' : '') }, head, h('table', { class: 'servers' }, thead, tbody));
  }

  function cell(label, cls, content, title) {
    return h('td', { class: cls || null, 'data-label': label, title: title || null }, h('span', { class: 'v' }, content));
  }

  function numCell(label, v, cls, formatter) {
    var zero = v === 0;
    return cell(label, cls, h('span', { class: zero ? 'zero' : null, text: (formatter || count)(v) }));
  }

  function serverRow(s, cols, hasQueue, hasLimit, key) {
    var st = stateClass(s);
    var win = get(s, ['latency', 'total', 'window']) || {};
    var since = num(s.state_since_ms) && s.state_since_ms > 0 ? duration(stats.now_ms - s.state_since_ms) : null;
    var stateDetail = st === 'down' && s.last_failure ? 'last failed request: ' + s.last_failure : null;
    var check = s.check;
    var weight = num(s.effective_weight) && s.effective_weight !== s.weight
      ? h('span', { class: 'bar-cell', title: 'effective weight ' + s.effective_weight + ' of ' + s.weight },
        h('span', { class: 'meter' }, h('i', { style: 'width:' + Math.round(100 * s.effective_weight / Math.max(s.weight, 1e-9)) + '%' })),
        h('span', { class: 'warn', text: show(s.effective_weight) }), h('span', { class: 'dim', text: '/' + show(s.weight) }))
      : h('span', { text: show(s.weight) });
    var errors = (s.connect_errors || 0) + (s.response_errors || 0);
    var cells = [
      cell('Server', 'l first', [h('span', { class: 'name', text: s.name }),
        s.source ? h('span', { class: 'badge ' + s.source, text: s.source }) : null,
        s.backup ? h('span', { class: 'badge backup', text: 'backup' }) : null,
        h('div', { class: 'addr', text: s.address || (s.host + ':' + s.port) })]),
      cell('State', 'l', [h('span', { class: 'pill', text: stateLabel(s) }), since ? h('span', { class: 'since', text: 'for ' + since }) : null],
        stateDetail),
      cell('Weight', '', weight),
      cell('Sessions', '', [h('span', { text: count(s.in_flight) }), h('span', { class: 'dim', text: ' / ' + count(s.in_flight_max)
        + (hasLimit ? ' / ' + (num(s.max_conn) ? count(s.max_conn) : '\u221e') : '') })], 'current / max' + (hasLimit ? ' / limit' : '')),
      hasQueue ? numCell('Queue', num(s.queue_current) ? s.queue_current : s.queue) : null,
      cell('Req/s', '', h('span', { class: s.request_rate ? null : 'zero', text: rate(s.request_rate) }), 'max ' + rate(s.request_rate_max) + '/s'),
      cell('p50', '', h('span', { text: ms(win.p50_ms) }), 'last ' + (stats.window_s || 60) + ' s, ' + count(win.count) + ' requests'),
      cell('p99', '', h('span', { text: ms(win.p99_ms) }), 'p90 ' + ms(win.p90_ms) + ', p99.9 ' + ms(win.p999_ms) + ', max ' + ms(win.max_ms)),
      numCell('2xx', s.responses_2xx),
      numCell('3xx', s.responses_3xx, 'opt hide-narrow'),
      numCell('4xx', s.responses_4xx, 'opt hide-narrow'),
      cell('5xx', '', h('span', { class: s.responses_5xx ? 'err' : 'zero', text: count(s.responses_5xx) })),
      cell('Errors', '', h('span', { class: errors ? 'err' : 'zero', text: count(errors) }),
        'connect ' + count(s.connect_errors) + ', response ' + count(s.response_errors) + ', timeouts ' + count(s.timeouts)
        + ', client aborts ' + count(s.client_aborts)),
      cell('Retries', 'opt hide-narrow', h('span', { class: s.retried ? null : 'zero', text: count(s.retried) }),
        count(s.redispatched) + ' of them on another server'),
      cell('Last check', 'l wide', checkCell(check), check ? check.detail : 'active health checks are off'),
      cell('Actions', 'l wide', actions(s))
    ].filter(Boolean);
    return h('tr', { class: 'srv st-' + st + (st === 'down' ? ' down' : ''), 'aria-expanded': expanded[key] ? 'true' : 'false',
      onclick: function (e) {
        if (e.target.closest('.actions')) return;
        expanded[key] = !expanded[key];
        renderPools();
      } }, cells);
  }

  function checkCell(check) {
    if (!check) return h('span', { class: 'dim', text: '\u2013' });
    var age = num(check.at_ms) ? duration(stats.now_ms - check.at_ms) + ' ago' : '';
    return [h('span', { class: check.ok ? 'ok' : 'err', text: check.status + (check.code ? ' ' + check.code : '') }),
      h('span', { class: 'dim', text: ' ' + ms(check.duration_ms) }), h('span', { class: 'since', text: age })];
  }

  function detailsRow(s, span) {
    var pairs = flatten(s, '', []);
    return h('tr', { class: 'details' }, h('td', { colspan: span },
      h('dl', { class: 'kv' }, pairs.map(function (kv) {
        return h('div', null, h('dt', { text: kv[0] }), h('dd', { title: String(kv[1]), text: show(kv[1], kv[0]) }));
      }))));
  }

  // ------------------------------------------------------------------ runtime actions

  function actions(s) {
    var st = stateClass(s);
    var input = h('input', { type: 'number', min: 0, max: 256, step: 1, value: num(s.weight) ? s.weight : '',
      'aria-label': 'weight of ' + s.name, title: 'weight 0..256' });
    function button(label, on, what, body) {
      return h('button', { type: 'button', class: on ? 'on' : null, title: what + ' \u2190 ' + body,
        onclick: function () { act(s.name, what, body); } }, label);
    }
    return h('span', { class: 'actions' },
      button('Ready', st === 'up' || st === 'slow', 'state', 'ready'),
      button('Drain', st === 'drain', 'state', 'drain'),
      button('Maint', st === 'maint', 'state', 'maint'),
      input,
      h('button', { type: 'button', title: 'set the weight', onclick: function () { act(s.name, 'weight', String(input.value)); } }, 'Set'));
  }

  function act(name, what, body) {
    var token = $('token').value.trim();
    var headers = { 'Content-Type': 'text/plain' };
    if (token) headers.Authorization = 'Bearer ' + token;
    fetch('servers/' + encodeURIComponent(name) + '/' + what, { method: 'PUT', headers: headers, body: body, cache: 'no-store' })
      .then(function (r) {
        return r.text().then(function (text) {
          if (r.ok) {
            toast(name + ': ' + what + ' ' + body + (text.trim() ? ' \u2014 ' + text.trim() : ''), false);
          } else {
            toast(name + ': ' + what + ' ' + body + ' refused: ' + r.status + ' ' + (text.trim() || r.statusText), true);
          }
        });
      }, function (err) {
        toast(name + ': ' + what + ' ' + body + ' failed: ' + err.message, true);
      });
  }

  var toastTimer = null;
  function toast(text, error) {
    var t = $('toast');
    t.textContent = text;
    t.className = 'toast' + (error ? ' error' : '');
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.hidden = true; }, error ? 9000 : 4000);
  }

  // ------------------------------------------------------------------ timeline

  var KIND_CLASS = { join: 'up', up: 'up', add: 'up', leave: 'drain', drain: 'drain', crash: 'down', down: 'down',
    error: 'down', maint: 'maint', slowstart: 'slow', weight: 'gone', remove: 'gone', reload: 'gone', update: 'gone' };
  var FILTERS = [['all', 'All'], ['members', 'Members'], ['servers', 'Servers'], ['problems', 'Problems']];
  var MEMBER_KINDS = ['join', 'leave', 'crash', 'update'];
  var PROBLEM_KINDS = ['crash', 'down', 'error'];

  function keep(e) {
    if (filter === 'members') return MEMBER_KINDS.indexOf(e.kind) >= 0 || /^member /.test(e.subject);
    if (filter === 'servers') return MEMBER_KINDS.indexOf(e.kind) < 0;
    if (filter === 'problems') return PROBLEM_KINDS.indexOf(e.kind) >= 0;
    return true;
  }

  function renderEvents() {
    $('filters').replaceChildren.apply($('filters'), FILTERS.map(function (f) {
      return h('button', { type: 'button', class: filter === f[0] ? 'on' : null,
        onclick: function () { filter = f[0]; renderEvents(); } }, f[1]);
    }));
    var list = ((events && events.events) || []).filter(keep).slice(-200).reverse();
    var ol = $('events');
    if (!list.length) {
      ol.replaceChildren(h('li', null, h('span', { class: 'none', text: 'nothing yet' })));
      return;
    }
    ol.replaceChildren.apply(ol, list.map(function (e) {
      return h('li', null,
        h('time', { datetime: new Date(e.at_ms).toISOString(), title: new Date(e.at_ms).toString(), text: clock(e.at_ms) }),
        h('span', { class: 'kind st-' + (KIND_CLASS[e.kind] || 'gone'), text: e.kind }),
        h('span', { class: 'what' }, h('b', { text: e.subject }), e.pool ? h('span', { text: ' (' + e.pool + ')' }) : null,
          ' ', h('span', { text: e.detail })));
    }));
  }

  // ------------------------------------------------------------------ proxy counters

  function renderProxy() {
    var p = stats.proxy || {};
    var pairs = flatten(p, '', []).filter(function (kv) { return !/^latency\./.test(kv[0]); }); // the tiles show it
    $('proxy').replaceChildren.apply($('proxy'), pairs.map(function (kv) {
      return h('div', null, h('dt', { text: kv[0].replace(/_/g, ' ') }), h('dd', { title: String(kv[1]), text: show(kv[1], kv[0]) }));
    }));
  }

  // ------------------------------------------------------------------ start

  var tokenInput = $('token');
  try { tokenInput.value = sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { /* storage off: keep it in the field */ }
  tokenInput.addEventListener('input', function () {
    try { sessionStorage.setItem(TOKEN_KEY, tokenInput.value); } catch (e) { /* storage off */ }
  });
  $('token-form').addEventListener('submit', function (e) { e.preventDefault(); });
  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { if (stats) renderCharts(); }, 150);
  });
  poll();
}());
