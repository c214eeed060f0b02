#!/usr/bin/env bash
# Build llama.cpp with CUDA on the lent GPU machine and start bench/gpu_bench.py in the background.
# Run from the repository root there, with .gpu (trimmed llama-cpp-python sdist) and .whl carried.
#   bash bench/gpu_run.sh start [gpu_bench args...]   # build (if needed) + start, returns at once
#   bash bench/gpu_run.sh poll                         # print progress, copy results to $OUT
# Optional carried files in .gpu: standins-*.tar.xz (sparse stand-ins quantized beforehand by
# bench/h200_prebuild.py, unpacked into /tmp/standins where gpu_bench finds them) and advisor.tar (a
# `git archive HEAD advisor` snapshot, so the job runs committed code, not a working tree being edited).
# BUILD_TARGETS (optional): the llama.cpp targets to build, when a stage needs fewer than all of them.
set -u
LCP=/tmp/lcp
RES=/tmp/bench-out
mode=${1:-start}; shift || true
if [ "$mode" = start ]; then
  mkdir -p $LCP $RES /tmp/standins
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  # advisor/__init__.py imports Celery, which the GPU machine lacks: a namespace shim puts
  # advisor's modules on the path without running that __init__ (and the job runs from /tmp).
  adv=$PWD/advisor
  if [ -f .gpu/advisor.tar ]; then mkdir -p /tmp/advsnap && tar xf .gpu/advisor.tar -C /tmp/advsnap && adv=/tmp/advsnap/advisor; fi
  mkdir -p /tmp/shim/advisor && echo "__path__ = ['$adv']" > /tmp/shim/advisor/__init__.py
  for f in .gpu/standins-*.tar.xz; do [ -f "$f" ] && tar --sparse -xJf "$f" -C /tmp/standins; done
  ls -ls /tmp/standins | head -40
  cat > /tmp/bench-job.sh <<EOF
set -x
cd $PWD
export PYTHONPATH=/tmp/shim:/tmp/site:$LCP LLAMA_CPP_LIB_PATH=$LCP/build/bin PYTHONUNBUFFERED=1
if [ ! -x $LCP/build/bin/llama-bench ]; then
  tar xzf .gpu/llama-cpp-python-*-trimmed.tgz -C $LCP
  cmake -S $LCP/vendor/llama.cpp -B $LCP/build -G Ninja -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=Release > $RES/cmake.log 2>&1
  cmake --build $LCP/build -j 16 --target ${BUILD_TARGETS:-llama llama-bench llama-quantize llama-fit-params llama-batched-bench llama-completion llama-speculative-simple llama-server} >> $RES/cmake.log 2>&1
  echo "build rc=\$?"
fi
ls $LCP/build/bin
cd /tmp
python3 $PWD/bench/${BENCH_SCRIPT:-gpu_bench.py} --bin $LCP/build/bin --work /tmp/standins --out $RES $*
EOF
  setsid nohup bash /tmp/bench-job.sh > $RES/job.log 2>&1 < /dev/null &
  echo started
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv
  df -h /tmp | tail -1; nproc; free -g | head -2
fi
# poll: wait up to POLL_S seconds for progress, then copy everything back
[ -f $RES/job.log ] || { echo "no job on this machine (a fresh lease: start again)"; exit 3; }
end=$(( $(date +%s) + ${POLL_S:-0} ))
while [ "$(date +%s)" -lt "$end" ] && ! grep -q "ALL DONE" $RES/job.log 2>/dev/null; do sleep 10; done
cp $RES/*.jsonl $RES/*.log $RES/done.txt "${OUT:-/tmp/none}/" 2>/dev/null
# all of it in one file too (the device tool returns at most 8 files)
[ -n "${OUT:-}" ] && tar czf $OUT/bench-out.tgz -C $RES . 2>/dev/null
tail -c 6000 $RES/job.log
