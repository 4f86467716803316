# Sourced by scripts/*: make pyenv's 3.11/3.12/3.13 answer as python3.X, and
# keep uv from trying to download an interpreter (nothing can be downloaded).
export UV_PYTHON_DOWNLOADS=never
if command -v pyenv >/dev/null 2>&1 && [ -z "${PYENV_VERSION:-}" ]; then
  PYENV_VERSION=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[1-3]\.[0-9]+$' \
    | sort -V | awk -F. '{last[$1"."$2]=$0} END {for (k in last) print last[k]}' \
    | sort -V | paste -sd: -)
  export PYENV_VERSION
fi
pythons_found() {
  local found=""
  for v in 3.11 3.12 3.13; do
    command -v "python$v" >/dev/null 2>&1 && "python$v" -c '' 2>/dev/null && found="$found python$v"
  done
  echo "${found:- none}"
}
