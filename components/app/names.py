"""The app tier's names, labels and ports, which other tiers and the app's policies refer to."""

from __future__ import annotations

from .. import k8s as kb

API_NAME = "ams-api"
WEB_NAME = "ams-web"
WORKER_NAME = "ams-worker"
MIGRATE_NAME = "ams-db-migrate"
API_SERVICE = "ams-api-service"
WEB_SERVICE = "ams-web-service"
WEB_PORT = 80
WEB_CONTAINER_PORT = 8080
# nginx's stub_status listens on localhost only (docker/web/nginx.conf); the exporter serves 9113.
WEB_STATUS_PORT = 8081
WEB_METRICS_PORT = 9113
# The app's metrics endpoints (workload, container port name), for the monitoring tier's PodMonitors.
METRICS_ENDPOINTS = [(API_NAME, "http"), (WORKER_NAME, "http"), (WEB_NAME, "metrics")]
# The app's pods that connect to the data services: the data tier admits exactly these.
CLIENT_PODS = [kb.selector_labels(name) for name in (API_NAME, WORKER_NAME, MIGRATE_NAME)]
COLOR_LABEL = "ams.suresoft.com/color"
TRACK_LABEL = "ams.suresoft.com/track"
ISTIO_NAMESPACE = "istio-system"
ISTIOD_XDS_PORT = 15012
ISTIO_METRICS_PORT = 15020
