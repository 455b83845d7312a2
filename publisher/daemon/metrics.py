"""Prometheus metrics (`metrics: {listen: 127.0.0.1:9464}`): what a monitoring stack needs
to see that an unwatched daemon works. Off by default; served by prometheus-client's own
HTTP server on the configured address (loopback unless the user says otherwise).

    publisher_posts_total{account,type,outcome}     posts that reached published / failed /
                                                    unconfirmed (counted in this run)
    publisher_publish_lateness_seconds              media_publish sent after the slot
                                                    (histogram; early sends count as 0)
    publisher_api_calls_total{step,status}          Graph API calls by step (create, poll,
                                                    publish, permalink, quota, comment, ...) and
                                                    HTTP status ("none": no answer)
    publisher_quota_used{account} / _total          the publishing quota as Meta last gave it
    publisher_token_days_left{account}              where the token's expiry is known
    publisher_drafts{state}                         jobs by state, read from the store
    publisher_last_publish_timestamp_seconds        the last successful publish (Unix time)

Steps, not endpoints, label the API calls: an endpoint holds ids (one series per container
would grow without end). Nothing here holds a token; the values are read from the store and
the runtime when Prometheus asks (`_Collector`), so nothing can drift.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from publisher.clock import Clock
from publisher.config import Config, refreshed, tokens
from publisher.errors import ConfigError, Problem
from publisher.instagram.client import Quota
from publisher.job import ApiCall, Job, State
from publisher.store.jobstore import JobStore

log = logging.getLogger(__name__)

OUTCOMES = (State.PUBLISHED, State.FAILED, State.UNCONFIRMED)
# From "on time" to "an hour late": the SPEC's promise is minutes, not hours.
LATENESS_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


class Metrics:
    """The daemon's metrics. `job_changed` and `api_call` are called by the store's observer
    and by every Graph API client; `serve` starts the HTTP server, `close` stops it."""

    def __init__(
        self,
        config: Config,
        store: JobStore,
        quota: Callable[[str], Quota | None],
        clock: Clock,
    ) -> None:
        self.config = config
        self.registry = CollectorRegistry(auto_describe=True)
        self.posts = Counter(
            "publisher_posts",
            "Posts that reached a final state in this run, by account, type and outcome.",
            ["account", "type", "outcome"],
            registry=self.registry,
        )
        self.lateness = Histogram(
            "publisher_publish_lateness_seconds",
            "Seconds between a post's slot and its media_publish call.",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.api_calls = Counter(
            "publisher_api_calls",
            "Graph API calls by step and HTTP status ('none': no answer).",
            ["step", "status"],
            registry=self.registry,
        )
        self.last_publish = Gauge(
            "publisher_last_publish_timestamp_seconds",
            "Unix time of the last successful publish (0: none known).",
            registry=self.registry,
        )
        published = [job.published_at for job in store.all() if job.published_at is not None]
        if published:
            self.last_publish.set(max(published).timestamp())
        self.registry.register(_Collector(self, store, quota, clock))
        self._server: WSGIServer | None = None

    def job_changed(self, before: Job | None, after: Job) -> None:
        """Count a job that just reached published, failed or unconfirmed."""
        if after.state not in OUTCOMES or (before is not None and before.state is after.state):
            return
        self.posts.labels(after.account or "-", after.type or "-", after.state.value).inc()
        if after.state is State.PUBLISHED:
            sent = after.publish_requested_at or after.published_at
            if sent is not None and after.scheduled_for is not None:
                self.lateness.observe(max(0.0, (sent - after.scheduled_for).total_seconds()))
            if after.published_at is not None:
                self.last_publish.set(after.published_at.timestamp())

    def api_call(self, call: ApiCall) -> None:
        status = str(call.status) if call.status is not None else "none"
        self.api_calls.labels(call.step or "-", status).inc()

    def serve(self) -> None:
        """Start serving on `metrics.listen` (nothing when it is null). Raise ConfigError
        naming `metrics.listen` when the address cannot be taken."""
        address = self.config.metrics.listen_address
        if address is None:
            return
        host, port = address
        try:
            self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise ConfigError(
                [
                    Problem(
                        str(self.config.config_path),
                        "metrics.listen",
                        f"cannot listen on {self.config.metrics.listen}: {why}; choose a free "
                        "port (another program, or another publisher, holds this one)",
                    )
                ]
            ) from exc
        log.info(
            "metrics: serving Prometheus metrics on http://%s/metrics", self.config.metrics.listen
        )

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Collector(Collector):
    """The gauges read when Prometheus asks: drafts by state, quota, token days left."""

    def __init__(
        self,
        metrics: Metrics,
        store: JobStore,
        quota: Callable[[str], Quota | None],
        clock: Clock,
    ) -> None:
        self._metrics = metrics
        self._store = store
        self._quota = quota
        self._clock = clock

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families(live=False))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families(live=True))

    def _families(self, *, live: bool) -> list[GaugeMetricFamily]:
        config = self._metrics.config
        drafts = GaugeMetricFamily("publisher_drafts", "Jobs by state.", labels=["state"])
        used = GaugeMetricFamily(
            "publisher_quota_used", "Posts counted against the account's quota.", labels=["account"]
        )
        total = GaugeMetricFamily(
            "publisher_quota_total", "The account's publishing quota.", labels=["account"]
        )
        days = GaugeMetricFamily(
            "publisher_token_days_left",
            "Days until the account's token expires, where known.",
            labels=["account"],
        )
        if live:
            counts = Tally(job.state.value for job in self._store.all())
            for state in State:
                drafts.add_metric([state.value], counts.get(state.value, 0))
            now = self._clock()
            for account in config.accounts:
                known = self._quota(account)
                if known is not None:
                    used.add_metric([account], known.used)
                    total.add_metric([account], known.total)
                expires = _expires(config.state_dir, config, account)
                if expires is not None:
                    days.add_metric([account], (expires - now).total_seconds() / 86400)
        return [drafts, used, total, days]


def _expires(state_dir: Path, config: Config, account: str) -> datetime | None:
    """The account's token expiry as publisher last learnt it (a refresh or a check)."""
    configured = tokens.configured(config, account)
    if not configured:
        return None
    kept = refreshed.current(state_dir, account, configured)
    return kept.expires_at if kept is not None else None
