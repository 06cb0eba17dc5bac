declare module 'plotly.js-finance-dist-min';
