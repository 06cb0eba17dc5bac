// ArtifactWidget's view. It stays a few KB: drawing is done by the renderer the Penny labextension
// installs once per page as `window.PennyJupyter` (plotly.js loads once, never per widget).
// Without the labextension (another frontend), it shows the metric cards it can draw by itself.

const WAIT_MS = 10000;

function waitForPenny() {
  return new Promise((resolve) => {
    const started = Date.now();
    const poll = () => {
      if (globalThis.PennyJupyter) return resolve(globalThis.PennyJupyter);
      if (Date.now() - started > WAIT_MS) return resolve(null);
      setTimeout(poll, 50);
    };
    poll();
  });
}

function button(label, cls, title) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `penny-widget-button ${cls}`;
  b.textContent = label;
  b.title = title;
  return b;
}

function fallback(body, art) {
  // Minimal cards: enough to read the numbers when the full renderer is not on the page.
  const grid = document.createElement("div");
  grid.className = "penny-widget-fallback";
  for (const w of (art.spec && art.spec.widgets) || []) {
    if (w.type !== "metric") continue;
    const card = document.createElement("div");
    card.className = "penny-metric";
    const label = document.createElement("div");
    label.textContent = w.label || w.name || "";
    const value = document.createElement("strong");
    value.textContent = w.formatted ?? String(w.value ?? "–");
    card.append(label, value);
    grid.append(card);
  }
  body.append(grid);
  return { dispose() {}, toPNG: null };
}

function render({ model, el }) {
  el.classList.add("penny-widget");
  const bar = document.createElement("div");
  bar.className = "penny-widget-bar";
  const title = document.createElement("span");
  title.className = "penny-widget-title";
  const version = document.createElement("span");
  version.className = "penny-widget-version";
  const status = document.createElement("span");
  status.className = "penny-widget-status";
  status.setAttribute("role", "status");
  const refresh = button("Refresh", "penny-widget-refresh", "Re-run on today's data (a new version)");
  const full = button("Fullscreen", "penny-widget-fullscreen", "Show full screen");
  const download = document.createElement("select");
  download.className = "penny-widget-download";
  download.title = "Download";
  for (const [value, label] of [["", "Download…"], ["csv", "CSV"], ["json", "JSON"], ["png", "PNG"]]) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    download.append(o);
  }
  bar.append(title, version, status, refresh, download, full);
  const body = document.createElement("div");
  body.className = "penny-widget-body";
  el.append(bar, body);

  let penny = null;
  let rendered = null;
  const say = (text) => { status.textContent = text; };

  const draw = () => {
    const art = model.get("artifact") || {};
    title.textContent = art.title || "Artifact";
    version.textContent = `v${art.version ?? 1}`;
    if (rendered) rendered.dispose();
    body.replaceChildren();
    rendered = penny ? penny.renderArtifact(body, art) : fallback(body, art);
  };

  refresh.onclick = async () => {
    if (!penny) return say("Refresh needs the Penny JupyterLab extension");
    refresh.disabled = true;
    say("Refreshing…");
    try {
      const art = await penny.api.refreshArtifact(model.get("artifact").id);
      model.set("artifact", art);
      model.save_changes();
      say("");
    } catch (err) {
      say(`Refresh failed: ${err && err.message ? err.message : err}`);
    } finally {
      refresh.disabled = false;
    }
  };
  full.onclick = () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else el.requestFullscreen && el.requestFullscreen();
  };
  download.onchange = async () => {
    const format = download.value;
    download.value = "";
    if (!format) return;
    if (!penny) return say("Download needs the Penny JupyterLab extension");
    try {
      await penny.api.download(model.get("artifact").id, format, rendered);
    } catch (err) {
      say(`Download failed: ${err && err.message ? err.message : err}`);
    }
  };

  model.on("change:artifact", draw);
  waitForPenny().then((p) => {
    penny = p;
    if (!p) say("Penny extension not found: showing a simple view");
    draw();
  });
  return () => {
    if (rendered) rendered.dispose();
  };
}

export default { render };
