// symbols tab: draw on the canvas (mouse, pen or touch); candidates update as you draw.
(function () {
  const API = "/v1/symbols";
  let catalogue = null;

  const el = window.farga.el;
  // what a copy button copies: the LaTeX command, the Unicode character, or the name in Typst math
  const FORMS = { latex: "LaTeX", unicode: "Unicode", typst: "Typst" };
  let copyAs = (window.localStorage && localStorage.getItem("farga.copyAs")) || "latex";
  if (!(copyAs in FORMS)) copyAs = "latex";

  async function copy(text, button) {
    try { await navigator.clipboard.writeText(text); }
    catch (e) {  // insecure origins have no clipboard API: fall back to a selection
      const t = el("textarea"); t.value = text; document.body.append(t); t.select();
      document.execCommand("copy"); t.remove();
    }
    const old = button.textContent; button.textContent = "copied"; setTimeout(() => (button.textContent = old), 900);
  }

  function render(panel) {
    const canvas = el("canvas", { id: "pad", width: "320", height: "320", "aria-label": "drawing area" });
    const list = el("ol", { id: "candidates", class: "candidates" });
    const status = el("p", { id: "status", class: "muted" }, "Draw a symbol.");
    const search = el("input", { id: "search", type: "search", placeholder: "search: alpha, arrow, \\subset… or type a new \\command", hidden: "" });
    const results = el("ul", { id: "search-results", class: "search-results" });
    const none = el("button", { id: "none", class: "action", type: "button" }, "None of these");
    const clear = el("button", { id: "clear", class: "action", type: "button" }, "Clear");
    const form = el("select", { id: "copy-as", "aria-label": "copy as" },
      ...Object.entries(FORMS).map(([value, label]) => el("option", { value }, label)));
    form.value = copyAs;
    form.onchange = () => {
      copyAs = form.value;
      if (window.localStorage) localStorage.setItem("farga.copyAs", copyAs);
      if (shown) showCandidates(shown);
    };
    panel.append(el("div", { class: "symbols" },
      el("section", { class: "pad" }, canvas, el("div", { class: "buttons" }, clear, none)),
      el("section", { class: "results" }, el("label", { class: "copy-as muted" }, "copy as ", form),
         status, list, search, results)));

    const ctx = canvas.getContext("2d");
    let strokes = [], current = null, predictionId = null, pending = null, inFlight = false, again = false;
    let shown = null;

    function resizeInk() {
      ctx.lineWidth = 6; ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#1b1f24";
    }
    resizeInk();

    function point(ev) {
      const r = canvas.getBoundingClientRect();
      return { x: (ev.clientX - r.left) * canvas.width / r.width, y: (ev.clientY - r.top) * canvas.height / r.height,
               t: Math.round(ev.timeStamp) };
    }
    canvas.addEventListener("pointerdown", (ev) => {
      ev.preventDefault(); canvas.setPointerCapture(ev.pointerId);
      current = [point(ev)]; strokes.push(current);
      ctx.beginPath(); ctx.moveTo(current[0].x, current[0].y); ctx.lineTo(current[0].x + 0.1, current[0].y); ctx.stroke();
    });
    canvas.addEventListener("pointermove", (ev) => {
      if (!current) return;
      const p = point(ev), last = current[current.length - 1];
      if (Math.hypot(p.x - last.x, p.y - last.y) < 2) return;
      current.push(p); ctx.beginPath(); ctx.moveTo(last.x, last.y); ctx.lineTo(p.x, p.y); ctx.stroke();
      schedule(250);
    });
    const end = () => { if (current) { current = null; schedule(0); } };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);

    function schedule(ms) { clearTimeout(pending); pending = setTimeout(classify, ms); }

    async function classify() {
      if (!strokes.length) return;
      if (inFlight) { again = true; return; }
      inFlight = true;
      try {
        const res = await fetch(API + "/predict", { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ strokes, top_k: 5 }) });
        const body = await res.json();
        if (!res.ok) { status.textContent = body.detail || "error " + res.status; status.className = "error"; return; }
        predictionId = body.prediction_id;
        showCandidates(body.candidates);
        status.className = body.sure ? "muted" : "unsure";
        status.textContent = body.sure ? "Pick the symbol you meant: it teaches the model."
          : "Not sure: this may be no symbol the model knows. Is it one of these? (or search)";
      } catch (e) { status.textContent = "The service does not answer."; status.className = "error"; }
      finally { inFlight = false; if (again) { again = false; classify(); } }
    }

    function showCandidates(candidates) {
      shown = candidates;
      list.innerHTML = "";
      for (const c of candidates) {
        const usepackage = c.package ? `\\usepackage{${c.package}}` : "";
        const text = c[copyAs];
        const copyBtn = text
          ? el("button", { class: "copy action", type: "button", title: `copy as ${FORMS[copyAs]}` }, "copy")
          : el("button", { class: "copy action", type: "button", disabled: "", title: `${FORMS[copyAs]} has no name for it` }, "none");
        if (text) copyBtn.onclick = (ev) => { ev.stopPropagation(); copy(text, copyBtn); };
        const item = el("li", { class: "candidate", tabindex: "0", "data-latex": c.latex },
          el("span", { class: "glyph" }, c.unicode || "?"),
          el("span", { class: "cmd" }, el("code", {}, c.latex), el("small", { class: "muted" }, usepackage || c.mode + " mode")),
          el("span", { class: "score muted" }, Math.round(c.score * 100) + "%"),
          copyBtn);
        item.onclick = () => choose(c.latex);
        item.onkeydown = (ev) => { if (ev.key === "Enter") choose(c.latex); };
        list.append(item);
      }
    }

    async function choose(latex, pkg) {
      if (!predictionId) return;
      const sent = { prediction_id: predictionId, latex };
      if (pkg) sent.package = pkg;
      const res = await fetch(API + "/feedback", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(sent) });
      const body = await res.json();
      status.className = res.ok ? "muted" : "error";
      status.textContent = !res.ok ? (body.detail || "error " + res.status)
        : body.new_symbol ? `Thanks: ${latex} is new here. Once enough people have drawn it, the model learns it.`
        : `Thanks: saved ${latex} as the answer.`;
      if (res.ok && !body.new_symbol) {
        for (const li of list.children) li.classList.toggle("chosen", li.dataset.latex === latex);
        const picked = (shown || []).find((c) => c.latex === latex) || (catalogue || []).find((s) => s.latex === latex);
        copy((picked && picked[copyAs]) || latex, document.createElement("button"));
      }
    }

    none.onclick = async () => {
      search.hidden = false; search.focus();
      if (!catalogue) catalogue = await (await fetch(API + "/classes")).json();
      filter();
    };
    function filter() {
      const q = search.value.trim().toLowerCase();
      results.innerHTML = "";
      const hits = catalogue.filter((s) => !q || s.latex.toLowerCase().includes(q) || s.family.includes(q)).slice(0, 40);
      for (const s of hits) {
        const li = el("li", { class: "search-hit", "data-latex": s.latex },
          el("span", { class: "glyph" }, s.preview || "?"), el("code", {}, s.latex));
        li.onclick = () => { choose(s.latex); results.innerHTML = ""; search.hidden = true; search.value = ""; };
        results.append(li);
      }
      // a command the catalogue lacks: the user may teach it, naming its package
      const typed = search.value.trim();
      if (typed.startsWith("\\") && typed.length > 1 && !catalogue.some((s) => s.latex === typed)) {
        const pkg = el("input", { id: "teach-package", type: "text", placeholder: "package (none)", size: "12",
          "aria-label": "LaTeX package it needs" });
        const teach = el("button", { id: "teach", class: "action", type: "button" }, "Teach it");
        teach.onclick = () => { choose(typed, pkg.value.trim() || null); results.innerHTML = ""; search.hidden = true; search.value = ""; };
        results.append(el("li", { class: "teach" }, "Not listed: ", el("code", {}, typed), " ", pkg, teach));
      }
    }
    search.oninput = filter;

    clear.onclick = () => {
      strokes = []; predictionId = null; shown = null; ctx.clearRect(0, 0, canvas.width, canvas.height);
      list.innerHTML = ""; results.innerHTML = ""; search.hidden = true;
      status.className = "muted"; status.textContent = "Draw a symbol.";
    };
  }

  const style = document.createElement("link");
  style.rel = "stylesheet"; style.href = "/static/symbols/tab.css";
  document.head.append(style);
  window.farga.tabs.symbols = { title: "Symbols → LaTeX", render };
})();
