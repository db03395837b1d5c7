# Shared by scripts/demo and scripts/test: a virtual environment in .venv with the project in it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {  # apt_install PACKAGE... : install the Debian packages that are missing
  local missing=()
  for pkg in "$@"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

step() { echo "==> $*" >&2; }  # one line per set-up step, so a long one is not silence

ensure_venv() {  # ensure_venv EXTRAS : .venv with the project installed (editable) and EXTRAS
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "Oversight needs Python >= 3.11 as '$python' (set PYTHON=...)" >&2; exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    step "creating .venv with $("$python" -c 'import sys; print(sys.executable)')"
    "$python" -m venv .venv 2>/dev/null || { apt_install python3-venv; rm -rf .venv; "$python" -m venv .venv; }
    step "installing Oversight${1:+ $1} and its dependencies into .venv (pip; a minute or two the first time)"
  else
    step "updating Oversight${1:+ $1} in .venv (pip; a few seconds)"
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${1:-}"
  step "ready: $PWD/.venv/bin/oversight (source $PWD/.venv/bin/activate to have 'oversight' on PATH)"
}
