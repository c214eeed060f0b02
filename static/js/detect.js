// "Detect my GPU (this browser)": fills the machine form with what this browser says about the visitor's
// own device, only when the button is pressed (asking for a GPU adapter on every load logs
// "No available adapters." where there is none). The server's hardware is a separate, labelled link.
// Sources: WebGPU GPUAdapter.info (https://www.w3.org/TR/webgpu/#gpuadapterinfo; older Chromium has
// requestAdapterInfo()), WebGL's WEBGL_debug_renderer_info unmasked renderer
// (https://registry.khronos.org/webgl/extensions/WEBGL_debug_renderer_info/), and navigator.deviceMemory
// (https://www.w3.org/TR/device-memory/: rounded down to a power of two and capped, so a lower bound).
"use strict";

async function webgpuName() {
  if (!navigator.gpu) return null;
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info || (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : null);
    return info && info.description ? info.description : null;
  } catch (e) {
    return null;
  }
}

function webglName() {
  try {
    const gl = document.createElement("canvas").getContext("webgl");
    const ext = gl && gl.getExtension("WEBGL_debug_renderer_info");
    return ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : null;
  } catch (e) {
    return null;
  }
}

// "ANGLE (NVIDIA, NVIDIA GeForce RTX 4090 (0x00002684) Direct3D11 vs_5_0 ps_5_0, D3D11)" -> "NVIDIA GeForce RTX 4090"
function cleanName(raw) {
  let name = raw;
  const angle = /^ANGLE \((.*)\)$/.exec(name);
  if (angle) {
    const parts = angle[1].split(", ");
    name = parts.length > 1 ? parts[1] : parts[0];
  }
  return name.replace(/\(0x[0-9a-f]+\)/gi, " ").replace(/\((TM|R)\)/gi, " ")
    .replace(/\s(Direct3D|OpenGL|Vulkan|Metal|vs_\d|\/PCIe).*$/i, "").replace(/\s+/g, " ").trim();
}

const SOFTWARE = /swiftshader|llvmpipe|softpipe|basic render/i;  // a renderer without a GPU behind it
const VENDOR_WORDS = new Set(["nvidia", "amd", "intel", "ati", "corporation", "gpu"]);
const words = (text) => text.toLowerCase().replace(/[^a-z0-9]+/g, " ").trim().split(" ").filter(Boolean);

// The catalog's GPU for a name the browser gave, through the GPU search; only a result carrying every word
// of that name counts (the search also offers near spellings, which would fill in some other GPU).
async function catalogGpu(name) {
  const response = await fetch(`/api/gpus?q=${encodeURIComponent(name.slice(0, 200))}`);
  if (!response.ok) return null;
  const wanted = words(name).filter((w) => !VENDOR_WORDS.has(w));
  const match = (await response.json()).results.find((gpu) => {
    const have = new Set(words(gpu.name));
    return wanted.every((w) => have.has(w));
  });
  return match ? match.name : null;
}

function setField(id, value) {
  const field = document.getElementById(id);
  if (!field) return;
  field.value = value;
  field.dispatchEvent(new Event("change", { bubbles: true }));
}

async function detectBrowser(button) {
  const box = document.getElementById("browser-hint");
  button.disabled = true;
  box.hidden = false;
  box.textContent = "Asking this browser…";
  const said = [];
  const raw = (await webgpuName()) || webglName();
  if (raw && SOFTWARE.test(raw)) {
    said.push(`it draws with a software renderer (${cleanName(raw)}), so it cannot see your GPU: type its name`);
  } else if (raw) {
    const name = cleanName(raw);
    const match = await catalogGpu(name);
    if (match) {
      setField("id_gpu", match);
      said.push(`its GPU is “${name}”: filled in as ${match}`);
    } else {
      said.push(`its GPU is “${name}”, which the catalog does not know: type your GPU's name`);
    }
  } else {
    said.push("nothing about its GPU (the browser hides it or has no GPU access)");
  }
  if (navigator.deviceMemory) {
    setField("id_ram", String(navigator.deviceMemory));
    said.push(`at least ${navigator.deviceMemory} GB of RAM (browsers round down and cap this: correct it if you have more)`);
  }
  box.textContent = `This browser says ${said.join("; ")}.`;
  button.disabled = false;
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("#detect-browser");
  if (button) detectBrowser(button);
});
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("detect-browser");
  if (button) button.hidden = false;
});
