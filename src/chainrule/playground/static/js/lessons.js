// "Check yourself": a few questions per concept, each with a button that sets the network up
// to show the answer live. Answers stay in this page.
import { $ } from "./util.js";
import { S, on, send } from "./state.js";

function act(lesson) {
  send({ type: "mode", mode: "playground" });
  send({ type: "config", ...lesson.settings });
  if (lesson.action === "play") send({ type: "play" });
  else if (lesson.action === "step") send({ type: "step" });
  else if (lesson.action === "landscape") { const b = $("land-button"); if (b) setTimeout(() => b.click(), 300); }
}

function render(m) {
  const box = $("lessons-list"); box.innerHTML = "";
  for (const l of m.lessons) {
    const d = document.createElement("div");
    d.className = "lesson"; d.dataset.key = l.key;
    d.innerHTML = `<p><b>${l.concept}.</b> ${l.question}</p><div class="lesson-ctl"></div>
      <p class="small muted">${l.watch}</p><details><summary>answer</summary><p>${l.answer}</p></details>`;
    const ctl = d.querySelector(".lesson-ctl");
    for (const c of l.choices) {
      const b = document.createElement("button"); b.className = "link-button choice"; b.textContent = c;
      b.onclick = () => { ctl.querySelectorAll(".choice").forEach((x) => x.classList.toggle("picked", x === b)); };
      ctl.appendChild(b);
    }
    const show = document.createElement("button");
    show.textContent = "show me"; show.setAttribute("data-testid", "lesson-" + l.key);
    show.onclick = () => act(l);
    ctl.appendChild(show);
    box.appendChild(d);
  }
}

export function wireLessons() {
  const box = document.createElement("section");
  box.className = "panel lessons"; box.id = "lessons";
  box.innerHTML = `<div class="panel-head"><h2>Check yourself</h2></div><div id="lessons-list" data-testid="lessons"></div>`;
  $("teach").appendChild(box);
  // ask for the questions when the panel first comes into view, not while the page starts
  const seen = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && S.connected) { send({ type: "lessons" }); seen.disconnect(); }
  });
  on("hello", () => seen.observe(box));
}
on("lessons", render);
