#!/usr/bin/env bash
# Installs the scrobin package, which holds every rule's logic, into this env after conda built it
# (Snakemake runs <env>.post-deploy.sh inside the new env). Pinned to the workflow's own version, so
# a module deployment of a tag runs that tag's code; --no-deps because the env file above provides
# every dependency. SCROBIN_PIP_SPEC installs another build (a clone: /path/to/scrobin; a fork:
# git+https://.../scrobin@<tag>).
set -euo pipefail
python -m pip install --no-deps "${SCROBIN_PIP_SPEC:-scrobin==0.2.0}"
