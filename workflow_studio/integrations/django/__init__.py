"""Django app with the app-side routes: add it to ``INSTALLED_APPS`` and include its URLs.

    INSTALLED_APPS = [..., "workflow_studio.integrations.django"]
    urlpatterns = [..., path("", include("workflow_studio.integrations.django.urls"))]

Django is not a dependency of this package: this module imports nothing from Django, and
``urls``/``views`` raise a clear ImportError when Django is missing. The diagnostics
directory is ``settings.WORKFLOW_DIAGNOSTICS_DIR`` if set, else as for the other helpers.
"""
