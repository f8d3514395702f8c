// The page shell: one tab per component the service hosts; each component ships its own tab.js,
// which registers itself in window.farga.tabs[name] = { title, render(panel, info) }.
window.farga = { tabs: {} };

// el("li", {class: "x", onclick: f, "data-k": v}, ...children): what every tab builds its page with
window.farga.el = function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e[k] = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
};

async function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src; s.onload = resolve; s.onerror = () => reject(new Error("could not load " + src));
    document.head.appendChild(s);
  });
}

function showModel(info) {
  const el = document.getElementById("model-info");
  el.textContent = info && info.model
    ? `model ${info.model.name} v${info.model.version} · run ${info.model.run_id || "?"} · data ${info.model.data_source || "?"}`
    : "no model loaded yet";
}

async function start() {
  const panel = document.getElementById("panel");
  const nav = document.getElementById("tabs");
  let components;
  try {
    components = await (await fetch("/v1/components")).json();
  } catch (e) {
    panel.innerHTML = '<p class="error">The service does not answer.</p>';
    return;
  }
  for (const c of components) if (c.page) await loadScript(c.page);
  const select = (c) => {
    for (const b of nav.children) b.setAttribute("aria-selected", String(b.dataset.name === c.name));
    panel.innerHTML = "";
    showModel(c);
    window.farga.tabs[c.name].render(panel, c);
    history.replaceState(null, "", "#" + c.name);
  };
  const available = components.filter((c) => window.farga.tabs[c.name]);
  for (const c of available) {
    const b = document.createElement("button");
    b.textContent = window.farga.tabs[c.name].title || c.name;
    b.dataset.name = c.name; b.setAttribute("role", "tab");
    b.onclick = () => select(c);
    nav.appendChild(b);
  }
  const wanted = available.find((c) => "#" + c.name === location.hash) || available[0];
  if (wanted) select(wanted); else panel.innerHTML = '<p class="muted">No component to show.</p>';
}

start();
