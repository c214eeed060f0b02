// Small progressive enhancements; every page works without this file.
"use strict";

// Copy buttons: <button class="copy" data-copy-target="ID" hidden> next to a selectable <pre id="ID">.
function copyText(pre, button) {
  const text = pre.textContent.trim();
  const done = (ok) => {
    button.textContent = ok ? "Copied" : "Select and copy";
    button.dataset.copied = ok ? "yes" : "no";
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(() => done(true), () => done(fallbackCopy(pre)));
  } else {
    done(fallbackCopy(pre));
  }
}

function fallbackCopy(pre) {
  const range = document.createRange();
  range.selectNodeContents(pre);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
  try { return document.execCommand("copy"); } catch (e) { return false; }
}

function enableCopyButtons(root) {
  root.querySelectorAll("button.copy[data-copy-target]").forEach((button) => { button.hidden = false; });
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy[data-copy-target]");
  if (!button) return;
  const pre = document.getElementById(button.dataset.copyTarget);
  if (pre) copyText(pre, button);
});

document.addEventListener("DOMContentLoaded", () => enableCopyButtons(document));
document.addEventListener("htmx:afterSwap", (event) => enableCopyButtons(event.target));

// The machine form asks for results 300 ms after a change. A text field the person is still typing in
// (focused, edited since its last "change") is sent as it last was: changing the RAM and then typing
// "Ryzen 9 7950X" never sends "Ryz" (an unknown CPU) with the RAM's update. Its own change sends it whole.
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field instanceof HTMLInputElement && field.type === "text") field.dataset.committed = field.value;
});

document.addEventListener("htmx:configRequest", (event) => {
  const form = event.detail.elt;
  const trigger = event.detail.triggeringEvent;
  if (!(form instanceof HTMLFormElement) || (trigger && trigger.type === "submit")) return;
  const typing = document.activeElement;
  if (!(typing instanceof HTMLInputElement) || typing.form !== form || typing.type !== "text") return;
  const committed = typing.dataset.committed ?? typing.defaultValue;
  if (typing.value !== committed) event.detail.parameters[typing.name] = committed;
});

// A Mac named with its memory ("MacBook Air M3 16GB") sets the machine's RAM: the results say which, and the RAM
// field, which htmx does not redraw, shows it too (unless the person is typing in it).
document.addEventListener("htmx:afterSwap", () => {
  const results = document.getElementById("results");
  const ram = document.getElementById("id_ram");
  const named = results ? results.dataset.ramFromGpu : undefined;
  if (named && ram && document.activeElement !== ram) {
    ram.value = named;
    ram.dataset.committed = named;
  }
});

// "Show what fits" on a phone: the results sit below the long form, so bring them into view once they
// arrive (only when they are out of sight; on a wide screen they stand beside the form).
let showPressed = false;
document.addEventListener("submit", (event) => {
  if (event.target.id === "machine") showPressed = true;
});

document.addEventListener("htmx:afterSettle", (event) => {
  if (!showPressed || !event.detail.elt || event.detail.elt.id !== "results") return;
  showPressed = false;
  const results = document.getElementById("results");
  const top = results ? results.getBoundingClientRect().top : 0;
  if (results && (top < 0 || top > window.innerHeight - 120)) results.scrollIntoView({ block: "start" });
});
