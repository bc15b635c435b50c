// The workflow console's script: auto-refresh of the marked parts of a page, and the
// signal / query / cancel / terminate forms, which call the JSON API. No dependencies.
"use strict";

const REFRESH_MS = 3000;

async function refresh() {
  const box = document.getElementById("auto-refresh");
  if (!box || !box.checked || document.hidden) return;
  const parts = [...document.querySelectorAll("[data-refresh][id]")].filter(
    (el) => !el.querySelector("details[open]") && !el.contains(document.activeElement));
  if (parts.length === 0) return;
  try {
    const response = await fetch(location.href, { headers: { accept: "text/html" } });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    const before = document.getElementById("status");
    const after = fresh.getElementById("status");
    if (before && after && before.textContent !== after.textContent) {
      // The workflow closed (or changed state): the actions on the page change too.
      location.reload();
      return;
    }
    for (const el of parts) {
      const next = fresh.getElementById(el.id);
      if (next) el.innerHTML = next.innerHTML;
    }
  } catch (e) {
    // offline for a moment: try again at the next tick
  }
}

function show(text, ok) {
  const out = document.getElementById("action-result");
  if (!out) return;
  out.hidden = false;
  out.className = "action-result " + (ok ? "ok" : "bad");
  out.textContent = text;
}

function parseJson(text, field) {
  if (!text || !text.trim()) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(field + " is not valid JSON: " + e.message);
  }
}

async function act(form) {
  const action = form.dataset.action;
  const api = form.closest("[data-api]").dataset.api;
  const data = new FormData(form);
  let body;
  try {
    if (action === "signal") body = { name: data.get("name"), input: parseJson(data.get("input"), "input") };
    else if (action === "query") body = { name: data.get("name"), args: parseJson(data.get("args"), "arguments") };
    else body = { reason: data.get("reason") || "" };
  } catch (e) {
    show(e.message, false);
    return;
  }
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
  if (action === "signal" && !window.confirm("Send signal " + body.name + "?")) return;
  const response = await fetch(api + "/" + action, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    show(response.status + " " + (answer.error || "") + ": " + (answer.message || ""), false);
    return;
  }
  if (action === "query") {
    show(JSON.stringify(answer.result, null, 2), true);
    return;
  }
  show(action + ": " + (answer.status || "ok"), true);
  setTimeout(() => location.reload(), 1200);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-action]")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(form).catch((e) => show(String(e), false));
    });
  }
  setInterval(refresh, REFRESH_MS);
});
