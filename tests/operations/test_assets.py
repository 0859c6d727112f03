"""deploy/'s assets pass the tools that will read them: systemd-analyze, promtool, shellcheck;
the dashboard and the alerts name only the worker's metrics; every runbook script documents
itself (--help with its exit codes, in the README too) and refuses bad usage with 64."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.operations.conftest import BIN, CLI, DEPLOY, ROOT, RUNBOOK, SCRIPTS, Result

# The metrics the worker serves at /metrics (README, "Monitoring"), by type.
COUNTERS = {"runs_started_total", "runs_finished_total", "step_attempts_total",
            "leases_lost_total", "runs_recovered_total", "http_requests_total",
            "rate_limited_total", "auth_failures_total", "idempotent_replays_total",
            "webhook_deliveries_total", "database_errors_total"}
HISTOGRAMS = {"step_duration_seconds", "run_duration_seconds", "queue_wait_seconds",
              "http_request_duration_seconds"}
GAUGES = {"runs", "parked_runs", "queue_depth", "queue_oldest_ready_age_seconds",
          "executor_slots", "build_info", "active_deployment_info"}
SERIES = {f"workflow_studio_{name}" for name in COUNTERS | GAUGES} | {
    f"workflow_studio_{name}{suffix}" for name in HISTOGRAMS
    for suffix in ("_bucket", "_count", "_sum")}
METRIC = re.compile(r"\bworkflow_studio_[a-z_]+")
RULES = DEPLOY / "prometheus" / "workflow-studio.rules.yml"
DASHBOARD = DEPLOY / "grafana" / "workflow-studio.json"


def _run(*command: str, cwd: Path | None = None) -> Result:
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=60,
                          check=False)
    return Result(done.returncode, done.stdout, done.stderr)


def test_systemd_units_verify(tool: Callable[[str], str], tmp_path: Path) -> None:
    """Every unit as systemd loads it, with the install directory made real (verify checks
    that ExecStart's program exists): any warning about our units fails."""
    analyze = tool("systemd-analyze")
    install = tmp_path / "srv"
    (install / "deploy").mkdir(parents=True)
    (install / ".venv").symlink_to(CLI.parents[1])
    (install / "deploy" / "runbook").symlink_to(RUNBOOK)
    units = []
    for unit in sorted((DEPLOY / "systemd").iterdir()):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/srv/workflow-studio", str(install)))
        units.append(copy)
    assert {u.suffix for u in units} == {".service", ".socket", ".timer"}
    done = _run(analyze, "verify", *map(str, units))
    ours = [line for line in (done.out + done.err).splitlines()
            if any(u.name in line or u.stem in line for u in units)]
    assert done.code == 0 and not ours, str(done)


def test_systemd_stop_timeout_outlasts_gunicorns_graceful_timeout() -> None:
    """systemd must not SIGKILL a worker that is still letting its steps finish."""
    conf = (ROOT / "workflow_studio" / "worker" / "gunicorn_conf.py").read_text()
    graceful = int(re.search(r"^graceful_timeout = (\d+)", conf, re.M)[1])
    unit = (DEPLOY / "systemd" / "workflow-studio.service").read_text()
    assert int(re.search(r"^TimeoutStopSec=(\d+)", unit, re.M)[1]) > graceful
    assert re.search(r"^KillMode=mixed$", unit, re.M)
    drain = " ".join((RUNBOOK / "drain.sh").read_text().split())
    assert f"graceful timeout, {graceful} s" in drain and f"up to {graceful - 5} s" in drain


def test_alert_rules_pass_promtool(tool: Callable[[str], str]) -> None:
    promtool = tool("promtool")
    checked = _run(promtool, "check", "rules", str(RULES))
    assert checked.code == 0, str(checked)
    tested = _run(promtool, "test", "rules", "workflow-studio.rules.test.yml",
                  cwd=RULES.parent)
    assert tested.code == 0 and "SUCCESS" in tested.out, str(tested)


def test_alerts_cover_the_runbook() -> None:
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    names = {rule["alert"] for rule in rules}
    assert names >= {"WorkflowStudioWorkerDown", "WorkflowStudioQueueWaitHigh",
                     "WorkflowStudioOldestReadyWorkWaiting", "WorkflowStudioRunFailureRatioHigh",
                     "WorkflowStudioLeasesLost", "WorkflowStudioDatabaseErrors"}
    tested = (RULES.parent / "workflow-studio.rules.test.yml").read_text()
    for rule in rules:
        assert f"alertname: {rule['alert']}" in tested, f"{rule['alert']} has no promtool test"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert {"summary", "description", "runbook"} <= set(rule["annotations"])
        target = rule["annotations"]["runbook"].split("#")[0]
        assert (ROOT / target).exists(), f"{rule['alert']}: runbook {target} does not exist"
        assert set(METRIC.findall(rule["expr"])) <= SERIES, rule["alert"]


def test_scrape_config_passes_promtool(tool: Callable[[str], str], tmp_path: Path) -> None:
    """The sample scrape config with its key file in place: the rules it names load too."""
    promtool = tool("promtool")
    source = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    config = yaml.safe_load(source)
    job = config["scrape_configs"][0]
    assert (job["job_name"], job["metrics_path"]) == ("workflow-studio", "/metrics")
    assert job["authorization"]["type"] == "Bearer"
    key = tmp_path / "workflow-studio.key"
    key.write_text("wsk_example\n")
    (tmp_path / "prometheus.yml").write_text(
        source.replace(job["authorization"]["credentials_file"], str(key)))
    (tmp_path / RULES.name).write_text(RULES.read_text())
    checked = _run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.code == 0 and "SUCCESS: 7 rules found" in checked.out, str(checked)


def _dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    found = [(panel["title"], target["expr"]) for panel in dashboard["panels"]
             for target in panel.get("targets", [])]
    found += [(f"variable {v['name']}", v["query"]["query"])
              for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return found


def test_dashboard_uses_only_the_workers_metrics(tool: Callable[[str], str],
                                                 tmp_path: Path) -> None:
    """Every query names only metrics of the worker and is valid PromQL (promtool parses
    each one as a recording rule, Grafana's variables replaced by values)."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert all({"h", "w", "x", "y"} <= set(p["gridPos"]) for p in panels)
    queries = _dashboard_queries(dashboard)
    used = {name for _, expr in queries for name in METRIC.findall(expr)}
    assert used <= SERIES, sorted(used - SERIES)
    assert {m.removesuffix("_bucket") for m in used} >= {
        f"workflow_studio_{n}" for n in COUNTERS | GAUGES | HISTOGRAMS}, "a metric unshown"
    for panel in panels:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    promtool = tool("promtool")
    grafana = {"$__rate_interval": "5m", "$instance": ".*", "$workflow": ".*", "$queue": ".*"}
    rules = []
    for number, (title, expr) in enumerate(queries):
        if expr.startswith("label_values("):
            expr = re.fullmatch(r"label_values\((.*), \w+\)", expr)[1]
        for variable, value in grafana.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{title}: unknown variable in {expr}"
        rules.append({"record": f"dashboard:query_{number}", "expr": expr})
    (tmp_path / "dashboard.rules.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = _run(promtool, "check", "rules", str(tmp_path / "dashboard.rules.yml"))
    assert checked.code == 0, str(checked)


def test_scripts_pass_shellcheck(tool: Callable[[str], str]) -> None:
    checked = _run(tool("shellcheck"), "-x", *(str(RUNBOOK / s) for s in [*SCRIPTS, "lib.sh"]),
                   cwd=ROOT)
    assert checked.code == 0, str(checked)


def test_backup_tool_is_lint_clean() -> None:
    checked = _run(str(CLI.parent / "ruff"), "check", str(RUNBOOK / "backup_tool.py"))
    assert checked.code == 0, str(checked)


def _codes(text: str) -> dict[int, str]:
    section = text.split("Exit codes:\n", 1)[1]
    return {int(m[1]): m[2] for m in re.finditer(r"^  (\d+)\s+(.*)$", section, re.M)}


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_conventions_and_help(script: str, runbook: Callable[..., Result]) -> None:
    path = RUNBOOK / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    lines = path.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash" and "set -euo pipefail" in lines[:4]
    shown = runbook(script, "--help")
    assert shown.code == 0 and shown.err == "", str(shown)
    assert shown.out.startswith(f"Usage: {script}")
    codes = _codes(shown.out)
    assert {0, 64} <= set(codes), f"{script}: exit codes 0 and 64 must be documented"
    used = {int(c) for c in re.findall(r"\bdie (\d+)", path.read_text())}
    assert used <= set(codes), f"{script}: undocumented exit codes {used - set(codes)}"
    assert "WORKFLOW_COMPUTE_BASE_URL" in shown.out or script in {"backup.sh"}
    wrong = runbook(script, "--no-such-option")
    assert wrong.code == 64 and "--help" in wrong.err, str(wrong)


@pytest.mark.parametrize("script", ["health-check.sh", "deploy.sh", "rollback.sh",
                                    "validate.sh", "rotate-key.sh"])
def test_scripts_say_which_variable_is_missing(script: str,
                                               runbook: Callable[..., Result]) -> None:
    args = ["key_01ABC"] if script == "rotate-key.sh" else []
    missing = runbook(script, *args)
    assert missing.code == 64 and "WORKFLOW_COMPUTE_BASE_URL" in missing.err, str(missing)


def test_readme_operations_lists_every_script_with_its_exit_codes(
        runbook: Callable[..., Result]) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Operations\n", 1)[1].split("\n## ", 1)[0]
    for script in SCRIPTS:
        row = next((line for line in section.splitlines()
                    if line.startswith(f"| `{script}`")), None)
        assert row, f"README, Operations: no row for {script}"
        codes = _codes(runbook(script, "--help").out)
        for code in codes:
            assert re.search(rf"\b{code}\b", row.split("|")[-2]), f"{script}: code {code}"


def test_snapshot_fallback_copies_what_is_committed(tmp_path: Path) -> None:
    """backup_tool.py's VACUUM INTO (backup.sh's fallback without the sqlite3 CLI) copies
    the committed state of a WAL database while a writer holds a transaction open."""
    source = tmp_path / "live.db"
    writer = sqlite3.connect(source, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (n INTEGER)")
    writer.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(100)])
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (-1)")  # not committed while the copy is made
    try:
        copied = _run(str(BIN / "python"), str(RUNBOOK / "backup_tool.py"), "snapshot",
                      str(source), str(tmp_path / "copy.db"))
    finally:
        writer.execute("COMMIT")
        writer.close()
    assert copied.code == 0, str(copied)
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT count(*), min(n) FROM t").fetchone() == (100, 0)
    copy.close()


def test_backup_of_a_missing_database_leaves_nothing(runbook: Callable[..., Result],
                                                    tmp_path: Path) -> None:
    out = tmp_path / "backups"
    failed = runbook("backup.sh", "--output", str(out),
                     env={"WORKFLOW_SQLITE_PATH": str(tmp_path / "absent.db")})
    assert failed.code == 1 and "no database at" in failed.err, str(failed)
    assert failed.out == "" and list(out.iterdir()) == []
