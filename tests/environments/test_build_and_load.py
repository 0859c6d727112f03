"""Dependencies and secrets below the HTTP layer: what `build` ships, what the loader puts on
a deployment's import path, and how ``ws.secret`` is scoped to a deployment's own steps."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import os
import re
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.environments.conftest import env_config
from tests.environments.helpers import make_wheel, tinydep_wheels
from workflow_studio.authoring.context import running_step, running_workflow
from workflow_studio.authoring.errors import NotAllowedInWorkflowError, NotInWorkflowError
from workflow_studio.authoring.secrets import SecretNotDeclaredError, SecretNotSetError, secret
from workflow_studio.builder.project import BuildError, BuildResult, build_project
from workflow_studio.compute.ids import new_id
from workflow_studio.config.settings import ConfigError, define_config
from workflow_studio.worker.deployments.loader import DeploymentLoader
from workflow_studio.worker.deployments.verify import Limits, verify_and_unpack

LIMITS = Limits(10 * 1024 * 1024, 10 * 1024 * 1024, 200)


@pytest.fixture
def builds(env_builds: dict[str, BuildResult]) -> dict[str, BuildResult]:
    return env_builds


def test_the_host_has_no_tinydep() -> None:
    """The worker's own environment cannot serve the import: what runs comes from the build."""
    assert importlib.util.find_spec("tinydep") is None


def test_build_ships_the_wheels_files_and_lists_each_distribution(
        builds: dict[str, BuildResult]) -> None:
    manifest = builds["1.0"].manifest
    (dist,) = manifest.distributions
    wheel = builds["1.0"].artifact_path.parents[1] / "wheels" / dist.wheel
    assert (dist.name, dist.version, dist.wheel) == ("tinydep", "1.0",
                                                     "tinydep-1.0-py3-none-any.whl")
    import hashlib
    assert dist.sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()
    listed = {f.path: f for f in manifest.files}
    assert {".deps/tinydep/__init__.py", ".deps/tinydep/impl.py",
            ".deps/tinydep-1.0.dist-info/METADATA", "envapp/flows.py"} <= set(listed)
    with tarfile.open(builds["1.0"].artifact_path) as tar:
        data = tar.extractfile(".deps/tinydep/__init__.py").read()  # type: ignore[union-attr]
    assert hashlib.sha256(data).hexdigest() == listed[".deps/tinydep/__init__.py"].sha256
    assert b"VERSION = '1.0'" in data
    assert [s.name for s in manifest.secrets] == ["STRIPE_KEY", "DB_URL"]
    assert [s.as_env for s in manifest.secrets] == [False, True]


def test_no_deps_keeps_the_old_behaviour(tmp_path: Path) -> None:
    """Nothing is shipped, so the import must be served by the build machine: here it fails."""
    with pytest.raises(BuildError, match="No module named 'tinydep'"):
        build_project(str(env_config(tmp_path / "p", "1.0")), tmp_path / "out", no_deps=True)


def test_a_requirements_file_gives_the_same_reproducible_artifact(
        tmp_path: Path, builds: dict[str, BuildResult]) -> None:
    """The same sources and the same wheels give the same bytes, whichever way the
    requirements are written; ``workflow-studio`` itself is never shipped."""
    config = env_config(tmp_path / "p", "2.0")
    (tmp_path / "p" / "requirements.txt").write_text(
        "# the app's own\nworkflow-studio>=0.1\n-r more.txt\n", encoding="utf-8")
    (tmp_path / "p" / "more.txt").write_text("tinydep==2.0\n", encoding="utf-8")
    config.write_text(config.read_text().replace("requirements=['tinydep==2.0']",
                                                 "requirements='requirements.txt'"))
    manifest = build_project(str(config), tmp_path / "out").manifest
    assert [(d.name, d.version) for d in manifest.distributions] == [("tinydep", "2.0")]
    assert manifest.artifact_sha256 == builds["2.0"].manifest.artifact_sha256


def test_a_package_without_a_wheel_is_a_build_error_naming_it(tmp_path: Path) -> None:
    wheels = tinydep_wheels(tmp_path / "wheels")
    sdist = io.BytesIO()
    with tarfile.open(fileobj=sdist, mode="w:gz") as tar:
        setup = b"from setuptools import Extension, setup\nsetup(name='cext', version='1.0'," \
                b" ext_modules=[Extension('cext', ['cext.c'])])\n"
        info = tarfile.TarInfo("cext-1.0/setup.py")
        info.size = len(setup)
        tar.addfile(info, io.BytesIO(setup))
    (wheels / "cext-1.0.tar.gz").write_bytes(sdist.getvalue())
    config = env_config(tmp_path / "p", "1.0")
    config.write_text(config.read_text().replace("['tinydep==1.0']",
                                                 "['tinydep==1.0', 'cext==1.0']"))
    with pytest.raises(BuildError) as failed:
        build_project(str(config), tmp_path / "out")
    assert "requirement cext==1.0: no wheel" in str(failed.value)
    assert "sdist" in str(failed.value)


@pytest.mark.parametrize(("member", "problem"), [
    ("../escape.py", "member '../escape.py' is not allowed ('..' in path)"),
    ("/etc/passwd", "member '/etc/passwd' is not allowed (absolute path)"),
    ("evil/link.py", "member 'evil/link.py' is a link"),
])
def test_a_wheel_with_a_link_or_an_unsafe_member_is_refused(tmp_path: Path, member: str,
                                                             problem: str) -> None:
    import stat
    import zipfile

    from workflow_studio.builder.requirements import RequirementsError, _unpack
    evil = make_wheel(tmp_path / "wheels", "evil", "1.0", {"evil/__init__.py": ""})
    with zipfile.ZipFile(evil, "a") as archive:
        info = zipfile.ZipInfo(member)
        if member.endswith("link.py"):
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, b"/etc/passwd" if "link" in member else b"x = 1\n")
    (tmp_path / "site").mkdir()
    with pytest.raises(RequirementsError, match="evil-1.0-py3-none-any.whl: " + re.escape(problem)):
        _unpack(evil, tmp_path / "site", {})
    assert not (tmp_path / "escape.py").exists()


@pytest.mark.parametrize(("secrets", "problem"), [
    (["1BAD"], "secrets[0].name"),
    (["A", "A"], "names a secret twice"),
    ([{"name": "PATH", "as_env": True}], "PATH cannot be shown"),
    ([{"name": "WORKFLOW_SECRET_KEY", "as_env": True}], "cannot be shown"),
    ([{"name": "A", "as_env": "yes"}], "secrets[0].as_env: expected bool"),
    ([{"name": "A", "env": True}], "secrets[0].env: unknown setting"),
    ("A", "expected a list of secret names"),
])
def test_secret_declarations_are_checked(secrets: Any, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        define_config(workflows=["x"], secrets=secrets)


def test_requirement_declarations_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"requirements\[1\]: expected one requirement"):
        define_config(workflows=["x"], requirements=["a", "--index-url=http://evil"])


# -- the loader ------------------------------------------------------------------------------

@dataclasses.dataclass
class FakeStep:
    run_id: str = "wrun_x"
    step_id: str = "step_x"
    attempt: int = 1

    def write_stream(self, name: str, data: Any, close: bool) -> None:
        raise AssertionError("no streams here")


class Store:
    def __init__(self, **values: str) -> None:
        self.values, self.reads = dict(values), 0

    def read(self, name: str) -> str | None:
        self.reads += 1
        return self.values.get(name)


def _unpack(builds: dict[str, BuildResult], artifacts: Path) -> dict[str, str]:
    ids = {}
    for version, result in builds.items():
        ids[version] = new_id("dpl")
        with open(result.artifact_path, "rb") as artifact:
            verify_and_unpack(result.manifest_path.read_bytes(), artifact, artifacts,
                              ids[version], LIMITS)
    return ids


def test_two_versions_of_one_dependency_in_one_process(tmp_path: Path,
                                                      builds: dict[str, BuildResult]) -> None:
    ids = _unpack(builds, tmp_path / "artifacts")
    assert (tmp_path / "artifacts" / ids["1.0"] / "deps" / "tinydep" / "impl.py").is_file()
    loader = DeploymentLoader(tmp_path / "artifacts")
    one, two = loader.load(ids["1.0"]), loader.load(ids["2.0"])
    pid = os.getpid()
    assert one.registry.steps["versions"].fn() == {"version": "1.0", "pid": pid,
                                                   "greeting": "tinydep 1.0 greets you"}
    assert two.registry.steps["versions"].fn() == {"version": "2.0", "pid": pid,
                                                   "greeting": "tinydep 2.0 greets you"}
    assert one.registry.steps["versions"].fn()["version"] == "1.0"  # unchanged by the second
    assert one.modules["tinydep"] is not two.modules["tinydep"]
    assert one.modules["tinydep.impl"].__file__.startswith(str(one.deps_dir.resolve()))
    assert not any(n == "tinydep" or n.startswith("tinydep.") for n in sys.modules)
    assert str(one.deps_dir.resolve()) not in sys.path


def test_a_host_copy_of_a_dependency_is_set_aside_and_restored(
        tmp_path: Path, builds: dict[str, BuildResult], monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _unpack({"2.0": builds["2.0"]}, tmp_path / "artifacts")
    host = type(sys)("tinydep")
    host.VERSION = "host"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tinydep", host)
    loaded = DeploymentLoader(tmp_path / "artifacts").load(ids["2.0"])
    assert loaded.registry.steps["versions"].fn()["version"] == "2.0"
    assert sys.modules["tinydep"] is host


def test_ws_secret_reads_the_declared_secrets_of_the_steps_deployment(
        tmp_path: Path, builds: dict[str, BuildResult]) -> None:
    ids = _unpack(builds, tmp_path / "artifacts")
    store = Store(STRIPE_KEY="sk_one", OTHER="nope", DB_URL="postgres://db")
    loaded = DeploymentLoader(tmp_path / "artifacts", secrets=store).load(ids["1.0"])
    read = loaded.registry.steps["read"].fn
    with running_step(FakeStep()):
        assert read("STRIPE_KEY") == "sk_one"
        store.values["STRIPE_KEY"] = "sk_two"  # rotated: the next read sees it
        assert read("STRIPE_KEY") == "sk_two"
        with pytest.raises(SecretNotDeclaredError, match="'OTHER' is not declared by "
                                                         f"deployment {ids['1.0']}"):
            read("OTHER")
        del store.values["STRIPE_KEY"]
        with pytest.raises(SecretNotSetError, match="secrets set STRIPE_KEY"):
            read("STRIPE_KEY")
    with pytest.raises(NotInWorkflowError, match="inside a @step"):
        secret("STRIPE_KEY")


def test_workflow_code_cannot_read_a_secret(tmp_path: Path,
                                            builds: dict[str, BuildResult]) -> None:
    ids = _unpack({"1.0": builds["1.0"]}, tmp_path / "artifacts")
    loaded = DeploymentLoader(tmp_path / "artifacts",
                              secrets=Store(STRIPE_KEY="sk")).load(ids["1.0"])
    with running_workflow(object()), pytest.raises(  # type: ignore[arg-type]
            NotAllowedInWorkflowError, match="cannot be called in workflow code"):
        loaded.registry.workflows["greedy"].fn()


def test_as_env_secrets_are_seen_by_the_steps_thread_only(
        tmp_path: Path, builds: dict[str, BuildResult]) -> None:
    ids = _unpack({"1.0": builds["1.0"]}, tmp_path / "artifacts")
    store = Store(STRIPE_KEY="sk", DB_URL="postgres://secret@db")
    loaded = DeploymentLoader(tmp_path / "artifacts", secrets=store).load(ids["1.0"])
    with running_step(FakeStep()):
        seen = loaded.registry.steps["read_env"].fn("DB_URL")
    # The step's thread sees DB_URL (as_env), not STRIPE_KEY (ws.secret only); a thread
    # the step starts does not, and neither does anything after the step.
    assert seen == ("postgres://secret@db", "postgres://secret@db", True, None, None)
    assert os.environ.get("DB_URL") is None and "DB_URL" not in dict(os.environ)


def test_process_steps_are_left_as_defined(tmp_path: Path,
                                           builds: dict[str, BuildResult]) -> None:
    """A process step's child imports the step afresh: its function is not wrapped (the
    child finds its module through the function's own globals)."""
    ids = _unpack({"1.0": builds["1.0"]}, tmp_path / "artifacts")
    loaded = DeploymentLoader(tmp_path / "artifacts").load(ids["1.0"])
    assert not hasattr(loaded.registry.steps["isolated"].fn, "__wrapped__")
    assert hasattr(loaded.registry.steps["read"].fn, "__wrapped__")


def test_the_upload_rules_and_caps_cover_the_dependencies(
        tmp_path: Path, builds: dict[str, BuildResult]) -> None:
    """``.deps/`` members are members: verified one by one, counted against the caps."""
    from tests.deployments.helpers import manifest_for, member, tar_bytes
    from workflow_studio.worker.deployments.verify import ArtifactRejected

    result = builds["1.0"]
    manifest, artifact = result.manifest_path.read_bytes(), result.artifact_path.read_bytes()
    files = len(result.manifest.files)
    with pytest.raises(ArtifactRejected, match=f"more than {files - 1} members"):
        verify_and_unpack(manifest, io.BytesIO(artifact), tmp_path / "a", new_id("dpl"),
                          Limits(LIMITS.max_artifact_bytes, LIMITS.max_unpacked_bytes,
                                 files - 1))
    deps_bytes = sum(f.size for f in result.manifest.files if f.path.startswith(".deps/"))
    with pytest.raises(ArtifactRejected, match="unpacked-size cap"):
        verify_and_unpack(manifest, io.BytesIO(artifact), tmp_path / "a", new_id("dpl"),
                          Limits(LIMITS.max_artifact_bytes, deps_bytes - 1, 200))
    # A dependency's file that is not what the manifest lists is refused by name.
    forged = tar_bytes([member(".deps/tinydep/__init__.py", b"VERSION = 'evil'\n")])
    listed = manifest_for(forged, {".deps/tinydep/__init__.py": b"VERSION = '1.0'\n"})
    with pytest.raises(ArtifactRejected, match=re.escape("'.deps/tinydep/__init__.py' is")):
        verify_and_unpack(listed, io.BytesIO(forged), tmp_path / "a", new_id("dpl"), LIMITS)
    assert not [p for p in (tmp_path / "a").iterdir() if not p.name.startswith(".")]
