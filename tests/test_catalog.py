"""The Snakemake workflow catalog's standardized usage: its files, the format and the linter."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import yaml

from conftest import REPO
from scrobin import __version__


def test_catalog_file_declares_conda_and_the_report():
    usage = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert usage["software-stack-deployment"]["conda"] is True
    assert usage["report"] is True
    assert {"desc", "flags"} <= set(usage["mandatory-flags"])


def test_license_changelog_and_version_agree():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and (REPO / "LICENSE").read_text().startswith("MIT License")
    assert f"## {__version__}" in (REPO / "CHANGELOG.md").read_text()


def test_snakefiles_are_snakefmt_formatted():
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "workflow/"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def test_lint_is_clean_at_the_root_with_the_shipped_config():
    """``snakemake --lint`` as a catalog user runs it: in the repository root, the default config."""
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Lints for" not in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]
