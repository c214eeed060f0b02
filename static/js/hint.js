// Browser hint on the machine form: what the browser says about this device, labelled as an estimate.
// navigator.deviceMemory is rounded down to a power of two and capped (Device Memory API spec: 8 GB;
// recent Chromium reports up to 32);
// WebGPU adapter info names the GPU vendor and architecture but never its memory size.
"use strict";

async function webgpuInfo() {
  if (!navigator.gpu) return null;
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info || (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : null);
    if (!info) return null;
    const parts = [info.vendor, info.architecture, info.description || info.device].filter(Boolean);
    return parts.length ? parts.join(" ") : null;
  } catch (e) {
    return null;
  }
}

async function showBrowserHint() {
  const box = document.getElementById("browser-hint");
  if (!box) return;
  const found = [];
  const memory = navigator.deviceMemory;
  if (memory) found.push(`at least ${memory} GB of RAM (navigator.deviceMemory: rounded down and capped by the browser)`);
  const gpu = await webgpuInfo();
  if (gpu) found.push(`a WebGPU adapter “${gpu}”`);
  if (!found.length) return;
  box.textContent = `Your browser reports ${found.join(" and ")}. These are estimates: check the fields above.`;
  const ram = document.getElementById("id_ram");
  if (memory && ram && !ram.value) {
    const use = document.createElement("button");
    use.type = "button";
    use.className = "link";
    use.textContent = ` Use ${memory} GB as RAM`;
    use.addEventListener("click", () => {
      ram.value = String(memory);
      ram.dispatchEvent(new Event("change", { bubbles: true }));
    });
    box.append(use);
  }
  box.hidden = false;
}

document.addEventListener("DOMContentLoaded", showBrowserHint);
