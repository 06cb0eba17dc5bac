// Minimal live view of an artifact: title and metric cards. The full renderer (charts, tables,
// timelines) is shared with the sidebar and replaces this in the dashboard issue.
function card(w) {
  const el = document.createElement("div");
  el.className = "penny-art-card";
  const label = document.createElement("div");
  label.className = "penny-art-label";
  label.textContent = w.label || w.name || "";
  const value = document.createElement("div");
  value.className = "penny-art-value";
  value.textContent = w.formatted ?? String(w.value ?? "–");
  el.append(label, value);
  if (typeof w.change_pct === "number") {
    const up = w.change_pct >= 0;
    const good = up === (w.up_is_good !== false);
    const ch = document.createElement("div");
    ch.className = good ? "penny-art-good" : "penny-art-bad";
    ch.textContent = `${up ? "▲" : "▼"} ${Math.abs(w.change_pct).toFixed(1)}%`;
    el.append(ch);
  }
  return el;
}

function render({ model, el }) {
  const draw = () => {
    const art = model.get("artifact") || {};
    const widgets = (art.spec && art.spec.widgets) || [];
    el.replaceChildren();
    el.classList.add("penny-art");
    const h = document.createElement("h3");
    h.textContent = art.title || "Artifact";
    const grid = document.createElement("div");
    grid.className = "penny-art-grid";
    grid.append(...widgets.filter((w) => w.type === "metric").map(card));
    const others = widgets.filter((w) => w.type !== "metric").map((w) => w.title || w.type);
    el.append(h, grid);
    if (others.length) {
      const o = document.createElement("div");
      o.className = "penny-art-other";
      o.textContent = "Also in this dashboard: " + others.join(" · ");
      el.append(o);
    }
  };
  draw();
  model.on("change:artifact", draw);
}

export default { render };
