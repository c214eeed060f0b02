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
