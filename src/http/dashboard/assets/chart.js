/**
 * A live time chart: uPlot (served from the package's own node_modules as assets/uplot.js, the
 * global `uPlot`) in a figure with a heading and a text summary, since a canvas says nothing to
 * a screen reader. It follows its container's width and the light or dark scheme.
 */
import { h, setText } from './dom.js';

const HEIGHT = 170;
const dark = window.matchMedia('(prefers-color-scheme: dark)');

/** A colour of the page's palette (app.css custom properties), so charts follow the scheme. */
function color(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

/**
 * A chart of `series` ([{ label, color: '--css-var', unit }]) against time. `update(t, ...ys)`
 * takes aligned arrays (t in epoch seconds); `summary(text)` sets what a screen reader hears.
 */
export function timeChart(title, series) {
  const plot = h('div', { class: 'plot' });
  const caption = h('figcaption', { class: 'visually-hidden' });
  const element = h('figure', { class: 'chart' }, h('h3', {}, title), plot, caption);
  let chart = null;
  let data = [[], ...series.map(() => [])];
  let drawn = '';

  const build = () => {
    chart?.destroy();
    chart = null;
    if (typeof window.uPlot !== 'function') {
      setText(plot, 'Chart unavailable (uPlot did not load).');
      return;
    }
    const axis = {
      stroke: color('--muted'),
      grid: { stroke: color('--grid'), width: 1 },
      ticks: { show: false },
    };
    chart = new window.uPlot(
      {
        width: Math.max(plot.clientWidth, 240),
        height: HEIGHT,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [axis, { ...axis, size: 48 }],
        legend: { live: true },
        cursor: { drag: { x: false, y: false } },
        series: [
          {},
          ...series.map((line) => ({
            label: line.label,
            stroke: color(line.color),
            fill: `${color(line.color)}22`,
            width: 1.5,
            points: { show: false },
            value: (_u, value) =>
              value === null || value === undefined ? '–' : `${round(value)}${line.unit}`,
          })),
        ],
      },
      data,
      plot,
    );
  };

  // Built once the figure is in the page and has a width; rebuilt when the scheme changes.
  const resize = new ResizeObserver(() => {
    if (plot.clientWidth === 0) return;
    if (chart === null) build();
    else chart.setSize({ width: plot.clientWidth, height: HEIGHT });
  });
  resize.observe(plot);
  const rescheme = () => build();
  dark.addEventListener('change', rescheme);

  return {
    element,
    update(t, ...ys) {
      // Points are one per 5 s and final once made: most snapshots bring none, and redrawing
      // the same lines each second would only cost time.
      const key = `${t.length} ${t.at(-1)} ${ys.map((y) => y.at(-1)).join(' ')}`;
      if (key === drawn) return;
      drawn = key;
      data = [t, ...ys];
      chart?.setData(data);
    },
    summary(text) {
      setText(caption, text);
      plot.setAttribute('role', 'img');
      plot.setAttribute('aria-label', `${title}: ${text}`);
    },
    destroy() {
      resize.disconnect();
      dark.removeEventListener('change', rescheme);
      chart?.destroy();
    },
  };
}

function round(value) {
  return value < 10 ? Math.round(value * 10) / 10 : Math.round(value);
}

/**
 * The sum of several queues' series, point by point (their points share times: one per
 * SERIES_STEP_MS on the server's clock), for the overview's all-queues chart.
 */
export function sumSeries(rows) {
  const byTime = new Map();
  for (const { series } of rows) {
    series.t.forEach((t, i) => {
      const point = byTime.get(t) ?? { completed: 0, failed: 0, ready: 0 };
      point.completed += series.completed[i] ?? 0;
      point.failed += series.failed[i] ?? 0;
      point.ready += series.ready[i] ?? 0;
      byTime.set(t, point);
    });
  }
  const t = [...byTime.keys()].sort((a, b) => a - b);
  return {
    t,
    completed: t.map((time) => byTime.get(time).completed),
    failed: t.map((time) => byTime.get(time).failed),
    ready: t.map((time) => byTime.get(time).ready),
  };
}
