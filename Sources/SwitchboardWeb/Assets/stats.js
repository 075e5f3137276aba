// Switchboard's dashboard: reads /api/stats every 10 s and draws each series as SVG built with DOM calls
// (no markup from data). Every bar or cell carries its number in data-value and a <title>, so a screen
// reader, a tooltip and the browser tests all read the same value that was drawn.
'use strict';

(function () {
  const svgNS = 'http://www.w3.org/2000/svg';
  const status = document.getElementById('status');
  const days = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

  function el(name, attributes, text) {
    const node = document.createElementNS(svgNS, name);
    for (const key in attributes) node.setAttribute(key, attributes[key]);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A bar chart of `values`, with `label(i)` naming each bar; `ticks` bars get an axis label.
  function bars(container, values, label, tickEvery, tickLabel, summary) {
    const width = 720, height = 180, bottom = 18, left = 32;
    const max = Math.max(1, ...values);
    const step = (width - left) / values.length;
    const svg = el('svg', { viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': summary,
                            'data-max': max, 'data-count': values.length });
    svg.appendChild(el('line', { class: 'axis', x1: left, y1: height - bottom, x2: width, y2: height - bottom }));
    svg.appendChild(el('text', { x: 0, y: 10 }, String(max)));
    svg.appendChild(el('text', { x: 0, y: height - bottom }, '0'));
    values.forEach((value, i) => {
      const h = Math.round((height - bottom - 12) * value / max * 100) / 100;
      const bar = el('rect', { class: 'bar', x: left + i * step, y: height - bottom - h,
                               width: Math.max(step * 0.8, 0.5), height: h, 'data-value': value,
                               'data-label': label(i) });
      bar.appendChild(el('title', {}, label(i) + ': ' + value));
      svg.appendChild(bar);
      if (i % tickEvery === 0) {
        svg.appendChild(el('text', { x: left + i * step, y: height - 4 }, tickLabel(i)));
      }
    });
    container.replaceChildren(svg);
  }

  // A 7 × 24 grid: one row per weekday (Monday first), one cell per UTC hour, darker when busier.
  function heatmap(container, grid, summary) {
    const cell = 26, left = 34, top = 14;
    const max = Math.max(1, ...grid.flat());
    const svg = el('svg', { viewBox: '0 0 ' + (left + 24 * cell) + ' ' + (top + 7 * cell), role: 'img',
                            'aria-label': summary, 'data-max': max });
    for (let hour = 0; hour < 24; hour += 3) {
      svg.appendChild(el('text', { x: left + hour * cell, y: 10 }, String(hour).padStart(2, '0') + ':00'));
    }
    grid.forEach((row, day) => {
      svg.appendChild(el('text', { x: 0, y: top + day * cell + cell * 0.65 }, days[day]));
      row.forEach((value, hour) => {
        const rect = el('rect', { class: value > 0 ? 'cell' : 'empty', x: left + hour * cell + 1,
                                  y: top + day * cell + 1, width: cell - 2, height: cell - 2,
                                  'data-value': value, 'data-day': day, 'data-hour': hour });
        if (value > 0) rect.setAttribute('fill-opacity', (0.15 + 0.85 * value / max).toFixed(3));
        rect.appendChild(el('title', {}, days[day] + ' ' + String(hour).padStart(2, '0') + ':00 UTC: ' + value));
        svg.appendChild(rect);
      });
    });
    container.replaceChildren(svg);
  }

  function dayLabel(start, i) {
    const date = new Date(Date.parse(start + 'T00:00:00Z') + i * 86400000);
    return date.toISOString().slice(0, 10);
  }

  function draw(stats) {
    document.getElementById('connected-now').textContent = String(stats.connected_now);
    document.getElementById('visits-total').textContent = String(stats.visits_total);
    const minuteStart = Date.parse(stats.clients_per_minute.start);
    const minuteLabel = (i) => new Date(minuteStart + i * 60000).toISOString().slice(11, 16);
    const peak = Math.max(0, ...stats.clients_per_minute.counts);
    bars(document.getElementById('chart-minutes'), stats.clients_per_minute.counts, minuteLabel, 180, minuteLabel,
         'Clients connected per minute over the last 24 hours; at most ' + peak);
    const visits = stats.visits_per_day, lines = stats.lines_per_day;
    const visitTotal = visits.counts.reduce((a, b) => a + b, 0);
    bars(document.getElementById('chart-visits'), visits.counts, (i) => dayLabel(visits.start, i), 7,
         (i) => dayLabel(visits.start, i).slice(5), 'Visits per day over 30 days; ' + visitTotal + ' in all');
    const lineTotal = lines.counts.reduce((a, b) => a + b, 0);
    bars(document.getElementById('chart-lines'), lines.counts, (i) => dayLabel(lines.start, i), 7,
         (i) => dayLabel(lines.start, i).slice(5), 'Lines said per day over 30 days; ' + lineTotal + ' in all');
    heatmap(document.getElementById('chart-hours'), stats.busiest_hours.counts,
            'Lines said by weekday and hour over the last 4 weeks');
    status.textContent = 'Updated ' + new Date(stats.generated_at).toISOString().slice(11, 19) + ' UTC';
    document.body.dataset.generatedAt = stats.generated_at;
  }

  async function refresh() {
    try {
      const response = await fetch('/api/stats', { cache: 'no-store' });
      if (!response.ok) throw new Error('HTTP ' + response.status);
      draw(await response.json());
    } catch (error) {
      status.textContent = 'Could not load the numbers (' + error.message + '); trying again';
    }
  }

  refresh();
  setInterval(refresh, 10000);
})();
