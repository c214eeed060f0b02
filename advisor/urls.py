from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from advisor import api, probe_engine_views, views

urlpatterns = [
    # Pages without our <link rel="icon"> (the admin's login) make the browser ask for /favicon.ico.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("", views.home, name="home"),
    path("detect", views.detect, name="detect"),
    path("gpus", views.gpu_search, name="gpu_search"),
    path("cpus", views.cpu_search, name="cpu_search"),
    path("models/<str:model_id>", views.model_detail, name="model_detail"),
    path("tiers", views.tier_list, name="tier_list"),
    path("tiers/<slug:tier_id>", views.tier_detail, name="tier_detail"),
    path("probes", views.probe_list, name="probe_list"),
    path("probes/engine", probe_engine_views.status, name="probe_engine"),
    path("probes/<int:run_id>", views.probe_detail, name="probe_detail"),
    path("probes/<int:run_id>/cancel", views.probe_cancel, name="probe_cancel"),
    path("accuracy", views.accuracy, name="accuracy"),
    path("check/", views.check_setup, name="check_setup"),
    path("import", views.import_model, name="import_model"),
    path("account/tokens", views.api_tokens, name="api_tokens"),
    path("account/tokens/<int:token_id>/revoke", views.revoke_token, name="revoke_token"),
    path("login", views.login, name="login"),
    path("logout", views.logout, name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("api/fit", api.fit, name="api_fit"),
    path("api/recommendations", api.recommendations, name="api_recommendations"),
    path("api/gpus", api.gpus, name="api_gpus"),
    path("api/probes", api.probes, name="api_probes"),
    path("api/checks", api.checks, name="api_checks"),
    path("api/probes/<int:run_id>", api.probe_detail, name="api_probe_detail"),
    path("api/schema", api.schema, name="api_schema"),
    path("admin/", admin.site.urls),
]
