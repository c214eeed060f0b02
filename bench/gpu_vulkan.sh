#!/usr/bin/env bash
# Vulkan load logs on the lent H200 (NVIDIA's Vulkan driver): bench/gpu_logs.py VULKAN_RUNS, each a
# llama-completion -lv 4 run whose log holds llama.cpp's Vulkan buffer lines, with nvidia-smi's memory in
# use sampled every 100 ms beside it. llama.cpp (the copy vendored in llama-cpp-python 0.3.36) is built
# beforehand on a Debian 12 machine, because the GPU machine has no network for glslc/Vulkan headers:
#
#   cmake -S vendor/llama.cpp -B build -G Ninja -DGGML_VULKAN=ON -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=ON \
#     -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DCMAKE_BUILD_TYPE=Release \
#     -DVulkan_INCLUDE_DIR=<libvulkan-dev 1.4.309 (Debian trixie)>/usr/include \
#     -DVulkan_GLSLC_EXECUTABLE=<glslc 2023.2 (Debian bookworm)>/usr/bin/glslc \
#     -DCMAKE_PREFIX_PATH=<spirv-headers 1.4.309>/usr  -DVulkan_LIBRARY=<libvulkan1 1.3.239>/libvulkan.so.1
#   ninja -C build llama-completion ; tar cJf .gpu/vulkan-bin.tar.xz -C build bin
#
# and carried (.gpu: vulkan-bin.tar.xz, the Debian 12 debs of libvulkan1 libglvnd0 libgl1 libglx0 libegl1
# libgles2 libopengl0 and their X11 libraries, standins-logs.tar.xz). Run from the repo root there:
#   bash bench/gpu_vulkan.sh      # logs and .smi samples land in $OUT
set -u
out=${OUT:-/tmp/vk-out}
mkdir -p "$out" /tmp/vk /tmp/standins /tmp/vkroot
tar xJf .gpu/vulkan-bin.tar.xz -C /tmp/vk
# the Vulkan loader and the GL dispatch libraries NVIDIA's ICD needs (the device tool's README: unpack into /)
for f in .gpu/*.deb; do dpkg -x "$f" /; done
ldconfig
tar --sparse -xJf .gpu/standins-logs.tar.xz -C /tmp/standins \
  llama-3.1-8b-instruct-Q4_K_M-L32.gguf qwen3-30b-a3b-Q4_K_M-L48.gguf gemma-3-4b-it-Q4_K_M-L34.gguf \
  granite-4.0-h-tiny-Q4_K_M-L40.gguf
export LD_LIBRARY_PATH=/tmp/vk/bin:/usr/local/nvidia/lib64 VK_LOADER_DEBUG=error,warn
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f $icd ] && export VK_DRIVER_FILES=$icd
ls /usr/share/vulkan/icd.d $icd 2>&1 | head; ls /usr/local/nvidia/lib64 2>&1 | grep -i "glx\|vulkan" | head
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv
python3 bench/gpu_logs.py --vulkan-commands | while read -r name file flags; do
  model=$(ls $file)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$out/$name.smi" &
  smi=$!
  sleep 0.5
  # shellcheck disable=SC2086
  timeout 120 /tmp/vk/bin/llama-completion -m "$model" -p "Hello, how are you today?" -n 16 -no-cnv --temp 0 \
    -t 8 -b 2048 -ub 512 $flags -lv 4 > "$out/$name.log" 2>&1 < /dev/null
  echo "$name rc=$? $(grep -c 'buffer size' "$out/$name.log") buffer lines, peak $(sort -n "$out/$name.smi" | tail -1) MiB"
  kill $smi
done
tar czf "$out/vulkan-logs.tgz" -C "$out" --exclude=vulkan-logs.tgz .
