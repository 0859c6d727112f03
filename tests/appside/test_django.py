"""The Django app, with CSRF protection on: callbacks still reach the view and are counted.

Skipped when Django is not installed (it is a test dependency, not a runtime one).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

django = pytest.importorskip("django")

from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import include, path  # noqa: E402

from workflow_studio.integrations.diagnostics import REMOTE_WORLD  # noqa: E402

DIAG = "/.well-known/workflow/v1/diagnostics"


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("home")


urlpatterns = [
    path("", home),
    path("", include("workflow_studio.integrations.django.urls")),
]


@pytest.fixture(scope="module", autouse=True)
def _django_settings() -> None:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, SECRET_KEY="test-only-not-secret", ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=__name__, DATABASES={}, USE_TZ=True,
            INSTALLED_APPS=["workflow_studio.integrations.django"],
            MIDDLEWARE=["django.middleware.common.CommonMiddleware",
                        "django.middleware.csrf.CsrfViewMiddleware"])
        django.setup()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    from django.test import Client, override_settings

    from workflow_studio.integrations.django.views import reset_diagnostics

    with override_settings(WORKFLOW_DIAGNOSTICS_DIR=str(tmp_path / "d")):
        reset_diagnostics()
        yield Client(enforce_csrf_checks=True)
    reset_diagnostics()


def test_app_config_is_installed() -> None:
    from django.apps import apps

    assert apps.get_app_config("workflow_studio").name == "workflow_studio.integrations.django"


def test_django_remote(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.urls import reverse

    monkeypatch.setenv("WORKFLOW_TARGET_WORLD", REMOTE_WORLD)
    assert reverse("workflow_studio:diagnostics") == DIAG
    assert client.get("/").content == b"home"
    for target in ("flow", "step", "webhook/tok_1"):
        response = client.post(f"/.well-known/workflow/v1/{target}", data="{}",
                               content_type="application/json")
        assert response.status_code == 409, target
        assert response.json()["code"] == "unexpected_local_callback"
    data = client.get(DIAG).json()
    assert data["unexpectedLocalCallbacks"] == 3 and data["status"] == "fail"
    assert "WORKFLOW_COMPUTE_BASE_URL is not set" in " ".join(data["problems"])
    assert client.post(DIAG).status_code == 405


def test_django_local(client: Any, tmp_path: Path) -> None:
    response = client.post("/.well-known/workflow/v1/step")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    data = client.get(DIAG).json()
    assert (data["targetWorld"], data["unexpectedLocalCallbacks"]) == ("local", 0)
    assert not (tmp_path / "d" / "unexpected_callbacks").exists()
