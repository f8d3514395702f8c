// fillmask tab: type a Catalan sentence with <mask> where a word is missing; see the candidates
// for each mask, pick one (or type the right word) to tell the service what you meant.
(function () {
  const API = "/v1/fillmask";
  const EXAMPLE = "La capital de Catalunya és <mask>.";

  const el = window.farga.el;

  function render(panel) {
    const input = el("textarea", { id: "fm-text", rows: "3", maxlength: "1000", "aria-label": "sentence with <mask>" });
    input.value = EXAMPLE;
    const insert = el("button", { id: "fm-insert", class: "action", type: "button" }, "Insert <mask>");
    const go = el("button", { id: "fm-predict", class: "action primary", type: "button" }, "Fill");
    const status = el("p", { id: "fm-status", class: "muted" }, "Write a sentence; put <mask> where a word is missing.");
    const results = el("div", { id: "fm-masks", class: "fm-masks" });
    const send = el("button", { id: "fm-send", class: "action", type: "button", hidden: "" }, "Send my words");
    panel.append(el("div", { class: "fillmask" },
      el("section", {}, input, el("div", { class: "buttons" }, insert, go)),
      el("section", { class: "results" }, status, results, send)));

    let predictionId = null, chosen = [];

    insert.onclick = () => {
      const at = input.selectionStart ?? input.value.length;
      input.value = input.value.slice(0, at) + "<mask>" + input.value.slice(input.selectionEnd ?? at);
      input.focus();
    };

    async function predict() {
      status.className = "muted"; status.textContent = "Thinking…"; results.innerHTML = ""; send.hidden = true;
      let res, body;
      try {
        res = await fetch(API + "/predict", { method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ text: input.value, top_k: 5 }) });
        body = await res.json();
      } catch (e) { status.className = "error"; status.textContent = "The service does not answer."; return; }
      if (!res.ok) { status.className = "error"; status.textContent = body.detail || "error " + res.status; return; }
      predictionId = body.prediction_id;
      chosen = body.masks.map((m) => m.candidates[0].token);
      status.textContent = body.masks.length === 1 ? "Best guesses, most likely first. Click the right one:"
                                                    : `${body.masks.length} masks: pick a word for each.`;
      body.masks.forEach((mask, i) => {
        const list = el("ol", { class: "candidates", "data-mask": String(i) });
        for (const c of mask.candidates) {
          const li = el("li", { class: "candidate", tabindex: "0", "data-token": c.token },
            el("span", { class: "word" }, c.token), el("span", { class: "score muted" }, (100 * c.score).toFixed(1) + "%"));
          li.onclick = () => pick(i, c.token, list);
          list.append(li);
        }
        const own = el("input", { class: "fm-own", type: "text", placeholder: "another word…", "aria-label": "the right word" });
        own.onchange = () => pick(i, own.value.trim(), list);
        results.append(el("div", { class: "fm-mask" }, el("h3", {}, `<mask> ${i + 1}`), list, own));
      });
      send.hidden = false;
    }

    function pick(i, token, list) {
      if (!token) return;
      chosen[i] = token;
      for (const li of list.children) li.classList.toggle("chosen", li.dataset.token === token);
      if (chosen.length === 1) feedback();
    }

    async function feedback() {
      if (!predictionId) return;
      const res = await fetch(API + "/feedback", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ prediction_id: predictionId, words: chosen }) });
      const body = await res.json();
      status.className = res.ok ? "muted" : "error";
      status.textContent = res.ok ? `Thanks: saved "${chosen.join(", ")}".` : (body.detail || "error " + res.status);
    }

    go.onclick = predict;
    send.onclick = feedback;
    input.onkeydown = (ev) => { if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); predict(); } };
  }

  const style = document.createElement("link");
  style.rel = "stylesheet"; style.href = "/static/fillmask/tab.css";
  document.head.append(style);
  window.farga.tabs.fillmask = { title: "Català: fill the gap", render };
})();
