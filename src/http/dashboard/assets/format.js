/** How numbers, sizes, rates, durations and times read on the page. */

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** A count: 12,345. */
export function count(value) {
  return integer.format(value);
}

/** A rate per second: one decimal below 10 (0.2/s means something), whole numbers above. */
export function rate(value) {
  if (value === 0) return '0';
  return value < 10 ? oneDecimal.format(value) : integer.format(value);
}

/** Bytes in binary units: 512 B, 48.2 MiB. */
export function bytes(value) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let scaled = value;
  let unit = 0;
  while (scaled >= 1024 && unit < units.length - 1) {
    scaled /= 1024;
    unit++;
  }
  return `${unit === 0 ? integer.format(scaled) : oneDecimal.format(scaled)} ${units[unit]}`;
}

/** A run time: 850 ms, 12.3 s, 4 min 10 s. */
export function duration(ms) {
  if (ms < 1_000) return `${integer.format(ms)} ms`;
  if (ms < 60_000) return `${oneDecimal.format(ms / 1_000)} s`;
  return uptime(ms);
}

/** A long span, to the two largest units: 45 s, 3 min 20 s, 5 h 2 min, 2 d 4 h. */
export function uptime(ms) {
  const seconds = Math.floor(ms / 1_000);
  const parts = [
    [Math.floor(seconds / 86_400), 'd'],
    [Math.floor(seconds / 3_600) % 24, 'h'],
    [Math.floor(seconds / 60) % 60, 'min'],
    [seconds % 60, 's'],
  ];
  const first = parts.findIndex(([value]) => value > 0);
  if (first === -1) return '0 s';
  return parts
    .slice(first, first + 2)
    .filter(([value], i) => i === 0 || value > 0)
    .map(([value, unit]) => `${value} ${unit}`)
    .join(' ');
}

// Formatters made once: toLocaleTimeString() builds one per call, which 50 instances' rows
// refreshed every second would feel.
const timeOfDay = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
});
const dayAndTime = new Intl.DateTimeFormat(undefined, {
  dateStyle: 'short',
  timeStyle: 'medium',
  hour12: false,
});

/** A clock time for today's events (14:03:27), with the date for older ones. */
export function clock(epochMs) {
  const startOfToday = new Date().setHours(0, 0, 0, 0);
  return epochMs >= startOfToday ? timeOfDay.format(epochMs) : dayAndTime.format(epochMs);
}

/** The full date and time, for a `title` and `<time datetime>`. */
export function iso(epochMs) {
  return new Date(epochMs).toISOString();
}

/** A value as indented JSON text (shown with textContent, never as HTML). */
export function json(value) {
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}
