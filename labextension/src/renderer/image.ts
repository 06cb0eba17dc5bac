/**
 * Images: PNG/JPEG/GIF/WebP/SVG from `spec.data` (base64, or raw SVG text) + `spec.mime`, or from
 * `spec.url` (http(s) or data:image only). Always an <img>: SVG is never put in the DOM as markup,
 * so scripts in it never run.
 */

import { el, str } from './dom';
import type { IWidgetView } from './types';

const MIMES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/svg+xml'];

export function imageSource(spec: any): string | null {
  const mime = str(spec?.mime) || str(spec?.mimeType) || 'image/png';
  const data = str(spec?.data);
  if (data && MIMES.includes(mime)) {
    if (mime === 'image/svg+xml' && data.trimStart().startsWith('<')) {
      return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(data)}`;
    }
    const b64 = data.replace(/\s+/g, '');
    return /^[A-Za-z0-9+/=_-]+$/.test(b64) ? `data:${mime};base64,${b64}` : null;
  }
  const url = str(spec?.url).trim();
  if (/^https?:\/\//i.test(url) || /^data:image\/(png|jpeg|gif|webp|svg\+xml)[;,]/i.test(url)) {
    return url;
  }
  return null;
}

export function renderImage(spec: any, title: string): IWidgetView {
  const src = imageSource(spec);
  if (!src) {
    const node = el('div', { className: 'penny-image penny-image-missing', text: 'This image cannot be shown (no data or an unsupported format).' });
    return { node };
  }
  const img = el('img', { attrs: { alt: str(spec?.alt) || title || 'Image', decoding: 'async', loading: 'eager' } });
  img.src = src;
  const node = el('figure', { className: 'penny-image' }, img, str(spec?.caption) ? el('figcaption', { text: str(spec?.caption) }) : null);
  const painted = img.decode().catch(() => {
    node.classList.add('penny-image-missing');
  });
  const toPNG = async () => {
    await painted;
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth || 300;
    canvas.height = img.naturalHeight || 150;
    canvas.getContext('2d')?.drawImage(img, 0, 0);
    return canvas.toDataURL('image/png');
  };
  return { node, painted, toPNG };
}
