/**
 * Building the page's DOM. Every value from a job, a queue or an instance becomes a text node or
 * an attribute set with setAttribute: nothing is ever parsed as HTML, so a field holding
 * `<script>` shows as those characters and runs nothing.
 */

/**
 * An element: `h('a', { href: '#/', class: 'x' }, 'text', child)`. Attribute values are strings
 * (booleans add or omit the attribute; `on*` keys that are functions become listeners); children
 * are nodes, strings (as text), numbers, or null/false (skipped), and arrays of those.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2), value);
    } else if (value === true) {
      element.setAttribute(key, '');
    } else {
      element.setAttribute(key, String(value));
    }
  }
  append(element, children);
  return element;
}

/** Appends children as {@link h} takes them. */
export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces every child of `parent` with `children`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** Sets a node's text only when it changed (so an unchanged cell is not touched each second). */
export function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

/**
 * Keeps the children of `parent` (a tbody's rows, a list's items) in step with `items`, keyed by
 * `key(item)`: each made once by `create(item)` and refreshed by `update(child, item)`, in the
 * items' order. They keep their identity from one snapshot to the next, so focus on a link
 * inside one survives a refresh.
 */
export function syncRows(parent, items, key, create, update) {
  const old = new Map();
  for (const child of parent.children) old.set(child.dataset.key, child);
  let cursor = parent.firstElementChild;
  for (const item of items) {
    const id = String(key(item));
    let row = old.get(id);
    if (row === undefined) {
      row = create(item);
      row.dataset.key = id;
    } else {
      old.delete(id);
    }
    update(row, item);
    if (row !== cursor) parent.insertBefore(row, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const row of old.values()) row.remove();
}

/** A table with a caption (for screen readers), column headers and an empty body, in a scroller. */
export function table(caption, headers, { numeric = [], captionHidden = false } = {}) {
  const tbody = h('tbody');
  const head = h(
    'tr',
    {},
    headers.map((label, i) => h('th', { scope: 'col', class: numeric.includes(i) ? 'num' : null }, label)),
  );
  const element = h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      {},
      h('caption', { class: captionHidden ? 'visually-hidden' : null }, caption),
      h('thead', {}, head),
      tbody,
    ),
  );
  return { element, tbody, head };
}

let sections = 0;

/** A section named by its heading (`aria-labelledby`), `children` after the heading. */
export function section(title, ...children) {
  const id = `section-${++sections}`;
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

/** A link to a view of the page's hash router. */
export function link(hash, text, attributes = {}) {
  return h('a', { href: hash, ...attributes }, text);
}

/** The hash of a queue's page. */
export function queueHash(name) {
  return `#/queue/${encodeURIComponent(name)}`;
}

/** The hash of a job's page (the queue, when known, spares the server a search). */
export function jobHash(id, queue) {
  const query = queue ? `?queue=${encodeURIComponent(queue)}` : '';
  return `#/job/${encodeURIComponent(id)}${query}`;
}
