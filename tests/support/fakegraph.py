"""A scriptable Instagram account behind respx, for the publish-flow tests: containers that
follow a status script, posts that media_publish commits (or loses the answer of), the
quota, and a Runtime over it all with a clock that moves only when the flow sleeps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import respx

from publisher.config import Config
from publisher.instagram import session
from publisher.job import Job
from publisher.publishing.runtime import Runtime
from tests.support.clock import SleepClock
from tests.support.graphclient import graph_error
from tests.support.site import IG_USER_ID, load_config, make_site

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
BASE = "https://graph.test"
TOKEN = "EAAB-flow-token-0123456789abcdef"

Effect = str | httpx.Response


@dataclass
class FakeGraph:
    """Containers follow a status script (the last status sticks); media_publish commits a
    post unless told otherwise; every request is logged as (method, what)."""

    clock: Callable[[], datetime]
    scripts: list[list[str]] = field(default_factory=list)  # for the next containers
    texts: list[str] = field(default_factory=list)  # their `status` text, in order
    statuses: dict[str, list[str]] = field(default_factory=dict)
    status_text: dict[str, str] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    published: dict[str, str] = field(default_factory=dict)  # container -> media id
    posts: list[dict[str, Any]] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    quota_used: int = 0
    # per media_publish call: "ok", "lost" (commit, then time out), "commit_502" (commit,
    # then a bare 502), "unsent" (time out before anything happens) or a Response to answer
    # (nothing committed)
    publish_effects: list[Effect] = field(default_factory=list)
    create_answers: list[httpx.Response] = field(default_factory=list)
    permalink_answer: httpx.Response | None = None
    listing_answer: httpx.Response | None = None
    before_publish: Callable[[], None] | None = None
    last_id: int = 18000000000000000

    def install(self, router: respx.MockRouter) -> None:
        user = rf"{BASE}/v25\.0/{IG_USER_ID}"
        router.get(url__regex=rf"{user}/content_publishing_limit").mock(side_effect=self.quota)
        router.post(url__regex=rf"{user}/media_publish").mock(side_effect=self.publish)
        router.post(url__regex=rf"{user}/media$").mock(side_effect=self.create)
        router.get(url__regex=rf"{user}/media\?").mock(side_effect=self.listing)
        router.get(url__regex=rf"{BASE}/v25\.0/\d+\?").mock(side_effect=self.node)

    def calls(self, what: str) -> int:
        return sum(1 for _, name in self.log if name == what)

    def quota(self, request: httpx.Request) -> httpx.Response:
        self.log.append(("GET", "quota"))
        config = {"quota_total": 100, "quota_duration": 86400}
        return httpx.Response(
            200, json={"data": [{"quota_usage": self.quota_used, "config": config}]}
        )

    def create(self, request: httpx.Request) -> httpx.Response:
        self.log.append(("POST", "create"))
        if self.create_answers:
            return self.create_answers.pop(0)
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.last_id += 1
        container_id = str(self.last_id)
        self.statuses[container_id] = self.scripts.pop(0) if self.scripts else ["FINISHED"]
        if self.texts:
            self.status_text[container_id] = self.texts.pop(0)
        self.captions[container_id] = form.get("caption", "")
        return httpx.Response(200, json={"id": container_id})

    def status_of(self, container_id: str) -> str:
        if container_id in self.published:
            return "PUBLISHED"
        return self.statuses[container_id][0]

    def node(self, request: httpx.Request) -> httpx.Response:
        node = request.url.path.rsplit("/", 1)[-1]
        if node in self.statuses:
            self.log.append(("GET", "status"))
            status = self.status_of(node)
            script = self.statuses[node]
            if len(script) > 1:
                script.pop(0)
            body = {"id": node, "status_code": status}
            if node in self.status_text:
                body["status"] = self.status_text[node]
            return httpx.Response(200, json=body)
        self.log.append(("GET", "permalink"))
        if self.permalink_answer is not None:
            return self.permalink_answer
        [post] = [post for post in self.posts if post["id"] == node]
        return httpx.Response(200, json={"id": node, "permalink": post["permalink"]})

    def publish(self, request: httpx.Request) -> httpx.Response:
        self.log.append(("POST", "publish"))
        if self.before_publish is not None:
            self.before_publish()
        container_id = parse_qs(request.content.decode())["creation_id"][0]
        effect = self.publish_effects.pop(0) if self.publish_effects else "ok"
        if effect == "unsent":
            raise httpx.ReadTimeout("timed out", request=request)
        if isinstance(effect, httpx.Response):
            return effect
        if self.status_of(container_id) != "FINISHED":
            return graph_error(400, 9007, 2207027, "Media ID is not available")
        media_id = f"17{len(self.posts) + 1:015d}"
        self.published[container_id] = media_id
        stamp = self.clock().strftime("%Y-%m-%dT%H:%M:%S+0000")
        self.posts.append(
            {
                "id": media_id,
                "caption": self.captions[container_id],
                "timestamp": stamp,
                "permalink": f"https://www.instagram.com/p/{media_id}/",
            }
        )
        if effect == "lost":
            raise httpx.ReadTimeout("timed out", request=request)
        if effect == "commit_502":
            return httpx.Response(502, text="Bad Gateway")
        return httpx.Response(200, json={"id": media_id})

    def listing(self, request: httpx.Request) -> httpx.Response:
        self.log.append(("GET", "listing"))
        if self.listing_answer is not None:
            return self.listing_answer
        return httpx.Response(200, json={"data": list(reversed(self.posts))})


@dataclass
class Env:
    config: Config
    rt: Runtime
    fake: FakeGraph
    time: SleepClock
    router: respx.MockRouter

    def job(self, job_id: str) -> Job:
        job = self.rt.store.get(job_id)
        assert job is not None
        return job


def open_env(root: Path, **publishing_settings: Any) -> Iterator[Env]:
    config = load_config(
        make_site(
            root,
            account={"api": "facebook", "base_url": BASE, "access_token": TOKEN},
            media={"host": "base_url", "public_url": "https://media.test"},
            publishing={"poll_interval": "3s", "poll_timeout": "10m", **publishing_settings},
        )
    )
    time = SleepClock(T0)
    fake = FakeGraph(time)
    with respx.mock(assert_all_called=False) as router, session.make_http() as http:
        fake.install(router)
        rt = Runtime.open(config, clock=time, sleep=time.sleep, http=http, retry_wait=0)
        try:
            yield Env(config, rt, fake, time, router)
        finally:
            rt.close()
