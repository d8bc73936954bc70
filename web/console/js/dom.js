// Building DOM nodes without innerHTML: every text goes in as a text node, so nothing the API
// returns can become markup (and the Content-Security-Policy forbids inline script anyway).

// h('button', {class: 'primary', on: {click: fn}}, 'Save') → <button class="primary">Save</button>
// attrs: class, on{event: fn}, dataset{}, boolean attributes as true/false, anything else as an
// attribute; null/undefined/false values are left out. Children: strings, numbers, nodes,
// arrays of them, null/undefined/false (skipped).
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'on') {
      for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    } else if (key === 'dataset') {
      Object.assign(node.dataset, value);
    } else if (key === 'value' && 'value' in node) {
      node.value = value;
    } else if (key === 'checked' || key === 'selected') {
      node[key] = Boolean(value);
    } else {
      node.setAttribute(key === 'className' ? 'class' : key, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

// Replaces every child of node.
export function replace(node, ...children) {
  return append(clear(node), children);
}
