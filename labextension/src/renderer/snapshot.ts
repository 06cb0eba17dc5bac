/**
 * PNG snapshots for artifacts that have no chart of their own: a simple canvas card with the title
 * and lines of text (metric label/value/change, table rows...), in the current theme's colours.
 */

import { readTheme } from './plotly';

export function textCardPNG(anchor: Element, title: string, lines: string[][], width = 720): string {
  const t = readTheme(anchor);
  const scale = 2;
  const lineH = 22;
  const rows = lines.slice(0, 30);
  const height = 48 + rows.length * lineH + 16;
  const canvas = document.createElement('canvas');
  canvas.width = width * scale;
  canvas.height = height * scale;
  const g = canvas.getContext('2d');
  if (!g) {
    return canvas.toDataURL('image/png');
  }
  g.scale(scale, scale);
  g.fillStyle = t.background;
  g.fillRect(0, 0, width, height);
  g.fillStyle = t.font;
  g.font = `600 16px ${t.family}`;
  g.fillText(title, 16, 30);
  const cols = Math.max(1, ...rows.map(r => r.length));
  const colW = (width - 32) / cols;
  rows.forEach((r, i) => {
    r.forEach((cell, j) => {
      g.fillStyle = j === 0 ? t.fontMuted : t.font;
      g.font = `${j === 1 ? '600 ' : ''}13px ${t.family}`;
      let text = cell;
      while (text.length > 1 && g.measureText(text).width > colW - 8) {
        text = text.slice(0, -2) + '…';
      }
      g.fillText(text, 16 + j * colW, 56 + i * lineH);
    });
  });
  return canvas.toDataURL('image/png');
}
