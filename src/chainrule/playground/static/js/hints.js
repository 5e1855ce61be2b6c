// Plain-words hints when training goes wrong (the server's diagnose module decides them, for
// both tabs alike): a rising or swinging loss, saturated neurons, dead ReLUs, a stuck net, a
// NaN model. The box shows the hints of the tab in view.
import { $ } from "./util.js";
import { S, on } from "./state.js";

function show(hints) {
  const box = $("hints");
  if (!hints.length) { box.innerHTML = ""; box.hidden = true; return; }
  box.hidden = false;
  box.innerHTML = "";
  for (const h of hints) {
    const div = document.createElement("div");
    div.className = "hint " + h.level;
    div.dataset.kind = h.kind;
    const b = document.createElement("b");
    b.textContent = h.title ? h.title + " " : "";
    div.appendChild(b);
    div.appendChild(document.createTextNode(h.text));
    box.appendChild(div);
  }
}

on("hints", show);
on("mode", () => {
  const f = S.mode === "mnist" ? S.mnistFrame : S.frame;
  show(f ? f.hints || [] : []);
});
