// The workbench's little behaviour: lease countdowns, a heartbeat while a held task's page is
// open, drafts of a call's outcome, and keyboard shortcuts (N: next task; Ctrl/Cmd+Enter: submit
// the outcome).
"use strict";

// Countdowns run from the server's clock at render time, so a wrong clock on the agent's
// machine does not shorten or lengthen a lease.
function startCountdowns() {
  const loaded = Date.now();
  const clocks = Array.from(document.querySelectorAll("time.countdown")).map((el) => ({
    el,
    left: Date.parse(el.getAttribute("datetime")) - Date.parse(el.dataset.serverNow),
  }));
  const tick = () => {
    const passed = Date.now() - loaded;
    for (const c of clocks) {
      const ms = Math.max(0, c.left - passed);
      const m = Math.floor(ms / 60000);
      const s = Math.floor((ms % 60000) / 1000);
      c.el.textContent = ms > 0 ? `${m}分${String(s).padStart(2, "0")}秒` : "已到期";
      c.el.classList.toggle("short", ms < 120000);
    }
  };
  if (clocks.length) {
    tick();
    setInterval(tick, 1000);
  }
  return clocks;
}

// While the page of a held task is open, its lease is extended: once on opening, then every
// minute. `data-beats` counts the beats the server took.
function startHeartbeat(clocks) {
  const head = document.querySelector("[data-heartbeat]");
  if (!head) return;
  let beats = 0;
  const beat = async () => {
    try {
      const response = await fetch(head.dataset.heartbeat, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": head.dataset.csrf },
      });
      // The task went back to the queue or to someone else: say so, rather than count down a
      // lease the agent no longer has and let them type an outcome that will be refused.
      if (response.status === 409 || response.status === 404) {
        clearInterval(timer);
        showLost(head, clocks);
        return;
      }
      if (!response.ok) return;
      const body = await response.json();
      beats += 1;
      head.dataset.beats = String(beats);
      const lease = clocks.find((c) => c.el.id === "lease");
      // Measured from the render's server time, as the countdown is.
      if (lease && body.lease_expires_at) {
        lease.left = Date.parse(body.lease_expires_at) - Date.parse(lease.el.dataset.serverNow);
      }
    } catch (_) {
      // The next beat tries again; the countdown shows what is left meanwhile.
    }
  };
  beat();
  const timer = setInterval(beat, 60000);
}

function showLost(head, clocks) {
  const lease = clocks.find((c) => c.el.id === "lease");
  if (lease) lease.left = 0;
  if (!document.getElementById("lease-lost")) {
    const note = document.createElement("p");
    note.id = "lease-lost";
    note.className = "error";
    note.setAttribute("role", "alert");
    note.textContent = "这个回访已不在您手上(已退回队列或由他人处理),结果无法再提交。请回到工作台领取下一个。";
    head.prepend(note);
  }
  for (const button of document.querySelectorAll("#outcome-form button[type=submit]")) button.disabled = true;
}

function typing(target) {
  return target.closest("input, textarea, select, [contenteditable]") !== null;
}

document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
    const form = document.getElementById("outcome-form");
    const submit = document.getElementById("submit-outcome");
    if (form && submit) {
      event.preventDefault();
      // requestSubmit does not ask whether its button is disabled (a lost lease disables it).
      if (!submit.disabled) form.requestSubmit(submit);
    }
    return;
  }
  if (!event.ctrlKey && !event.metaKey && !event.altKey && (event.key === "n" || event.key === "N") && !typing(event.target)) {
    const next = document.getElementById("next-task");
    if (next) {
      event.preventDefault();
      next.click();
    }
  }
});

// What an agent types into a call's outcome stays in the tab until the call is done: an offer,
// a temperament change or an error reloads the page, and a session that ended sends them to sign
// in and back. Kept per task (the form's address) in sessionStorage, gone with the tab.
function keepDraft() {
  const form = document.getElementById("outcome-form");
  if (!form) return;
  const key = `mend-draft:${form.getAttribute("action")}`;
  const fields = Array.from(form.querySelectorAll("input:not([type=hidden]), select, textarea")).filter((f) => f.name);
  try {
    const saved = JSON.parse(sessionStorage.getItem(key) || "null");
    for (const f of fields) {
      if (!saved || !(f.name in saved)) continue;
      if (f.type === "checkbox") f.checked = saved[f.name];
      else f.value = saved[f.name];
    }
  } catch (_) {
    // Storage refused (a private window's quota): the form works without drafts.
  }
  const save = () => {
    const draft = {};
    for (const f of fields) draft[f.name] = f.type === "checkbox" ? f.checked : f.value;
    try {
      sessionStorage.setItem(key, JSON.stringify(draft));
    } catch (_) {
      // As above.
    }
  };
  form.addEventListener("input", save);
  form.addEventListener("change", save);
  // Forgotten once the desk says the outcome was recorded: not on sending, as a refused outcome
  // (a page of errors) must find it again.
  form.addEventListener("submit", () => sessionStorage.setItem("mend-draft-sent", key));
}

function forgetSentDraft() {
  if (!new URLSearchParams(window.location.search).has("done")) return;
  try {
    const sent = sessionStorage.getItem("mend-draft-sent");
    if (sent) sessionStorage.removeItem(sent);
    sessionStorage.removeItem("mend-draft-sent");
  } catch (_) {
    // Storage refused: nothing was kept.
  }
}

// A button that ends something for someone else (停用, 重置密码) asks first: one stray click
// used to sign a colleague out mid-call.
document.addEventListener("submit", (event) => {
  const question = event.submitter && event.submitter.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// A live page (the supervisor's, the workbench) the browser brings back from its back/forward
// cache shows the queue as it was: an offer decided since, an escalation seen to. Fetch it anew.
// Other pages keep what was typed in their forms, which 返回修改 comes back for.
window.addEventListener("pageshow", (event) => {
  if (event.persisted && document.querySelector("[data-live]")) window.location.reload();
});

// 返回修改 on an error page goes back to the form, which the browser gives back as it was typed.
document.addEventListener("click", (event) => {
  const back = event.target.closest && event.target.closest("a[data-back]");
  if (back && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});

document.addEventListener("DOMContentLoaded", () => {
  forgetSentDraft();
  keepDraft();
  startHeartbeat(startCountdowns());
});
