/**
 * A tiny, safe renderer for the Markdown subset Penny's answers use: **bold**, `code`,
 * "- " / "* " bullets and "#" headings. It builds DOM nodes with textContent only: server
 * text is never parsed as HTML. Everything else stays plain text (line breaks kept by CSS).
 */

const INLINE = /(\*\*[^*\n]+\*\*|`[^`\n]+`)/g;
const BULLET = /^(\s*)[-*]\s+/;
const HEADING = /^#{1,6}\s+/;

function appendInline(parent: HTMLElement, text: string): void {
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    const index = match.index ?? 0;
    if (index > last) {
      parent.append(document.createTextNode(text.slice(last, index)));
    }
    const token = match[0];
    const node = document.createElement(token.startsWith('**') ? 'strong' : 'code');
    node.textContent = token.startsWith('**') ? token.slice(2, -2) : token.slice(1, -1);
    parent.append(node);
    last = index + token.length;
  }
  if (last < text.length) {
    parent.append(document.createTextNode(text.slice(last)));
  }
}

/** Replace `container`'s children with `source` rendered, one block per line. */
export function renderRichText(container: HTMLElement, source: string): void {
  const frag = document.createDocumentFragment();
  for (let line of source.split('\n')) {
    const block = document.createElement('div');
    block.className = 'penny-line';
    const heading = HEADING.exec(line);
    const bullet = heading ? null : BULLET.exec(line);
    if (heading) {
      block.classList.add('penny-heading');
      line = line.slice(heading[0].length);
    } else if (bullet) {
      block.classList.add('penny-bullet');
      block.append(document.createTextNode('• '));
      line = line.slice(bullet[0].length);
    }
    if (line || bullet) {
      appendInline(block, line);
    } else {
      block.append(document.createElement('br'));
    }
    frag.append(block);
  }
  container.replaceChildren(frag);
}
