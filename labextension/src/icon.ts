import { LabIcon } from '@jupyterlab/ui-components';

/** A coin with a "P": inline SVG, themed through the jp-icon3 fill class. */
const PENNY_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path fill-rule="evenodd" d="M12 2a10 10 0 1 1 0 20a10 10 0 1 1 0-20zm0 2a8 8 0 1 0 0 16a8 8 0 1 0 0-16z"/>
    <path fill-rule="evenodd" d="M9 6.5h4a3.5 3.5 0 0 1 0 7h-2v4H9zm2 2v3h2a1.5 1.5 0 0 0 0-3z"/>
  </g>
</svg>`;

export const pennyIcon = new LabIcon({
  name: 'penny-jupyter:penny',
  svgstr: PENNY_SVG
});
