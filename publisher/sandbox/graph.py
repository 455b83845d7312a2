"""The sandbox's Graph API behaviour, without HTTP: containers, publishing, reads, quota.

`Graph` owns the `World` (and its lock) and the `Faults`. Each public method is one endpoint;
it returns the JSON answer or raises `meta_errors.GraphError`. Every change is saved before
the method returns, and `publish` commits the post to the state file BEFORE the answer is
sent: a lost answer then means a post that exists, exactly as with Meta.

Container life: IN_PROGRESS for `faults.processing_polls` status reads (videos 2 more) and
until `faults.processing_s` (videos `video_processing_s`) have passed on the sandbox's clock
since its creation (processing takes time, not a number of reads), then
FINISHED (or ERROR / EXPIRED per faults, or ERROR when its video was refused), PUBLISHED once
published, EXPIRED 24 h after creation if never published.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from publisher.clock import Clock
from publisher.sandbox import comments, insights, meta_errors, params, tokens, views
from publisher.sandbox.faults import Faults
from publisher.sandbox.fetch import Fetcher
from publisher.sandbox.views import ERROR, EXPIRED, FINISHED, IN_PROGRESS, PUBLISHED
from publisher.sandbox.world import Account, Container, Post, World, post_for

CONTAINER_LIFETIME = timedelta(hours=24)
QUOTA_WINDOW = timedelta(hours=24)
STORY_LIFETIME = timedelta(hours=24)
VIDEO_EXTRA_POLLS = 2
LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 25, 100
# Endpoints documented for one login only (instagram-api.md): /refresh_access_token is
# Instagram Login's (§8.1; Facebook user tokens have no refresh endpoint, §8.2), /stories
# and /debug_token are Facebook Login's (§"Stories", §8.2).
ONLY_FOR = {"refresh_access_token": "instagram", "stories": "facebook", "debug_token": "facebook"}


@dataclass(frozen=True)
class PublishAnswer:
    """media_publish's answer, and what the faults say to do with it: `lose` is None (send
    it), "drop" (close the connection) or "502"; wait `delay_s` first."""

    body: dict[str, Any]
    lose: str | None
    delay_s: float


@dataclass(frozen=True)
class CommentAnswer:
    """A comment POST's answer: `lose` as for PublishAnswer; `refuse` an error to answer
    AFTER the comment was made (a `fields` parameter on the write: LESSONS.md)."""

    body: dict[str, Any]
    lose: str | None
    refuse: meta_errors.GraphError | None


class Graph:
    """The sandbox's Graph API over a `World`. Thread-safe."""

    def __init__(
        self,
        *,
        state_path: Path | None,
        faults: Faults,
        clock: Clock,
        fetcher: Fetcher | None,
    ) -> None:
        self.faults = faults
        self._clock = clock
        self._fetcher = fetcher
        self._lock = threading.RLock()
        self._world = World(state_path)
        # Memory only: token fingerprint -> the account it last used.
        self._token_account: dict[str, str] = {}

    # --- for tests and the control endpoints ----------------------------------------------

    def posts(self) -> list[dict[str, Any]]:
        """Every post, with `items`: the parameters each carousel child was created with."""
        with self._lock:
            shown = []
            for post in self._world.posts:
                children = [self._world.containers.get(child) for child in post.children]
                items = [dict(child.extras) for child in children if child is not None]
                shown.append({**dataclasses.asdict(post), "items": items})
            return shown

    def publish_calls(self) -> dict[str, int]:
        with self._lock:
            return dict(self._world.publish_calls)

    @contextmanager
    def locked(self) -> Iterator[World]:
        """The world under the lock, for the upload host (`rupload`); save what you change."""
        with self._lock:
            yield self._world

    def status_of(self, container: Container) -> str:
        """A container's status now (IN_PROGRESS ... PUBLISHED); call inside `locked`."""
        return self._status(container, self._clock())

    def reset(self) -> None:
        with self._lock:
            self._world.clear()
            self._world.save()
            self._token_account.clear()

    # --- endpoints ------------------------------------------------------------------------

    def create_container(
        self, ig_user_id: str, form: Mapping[str, str], key: str
    ) -> dict[str, Any]:
        """POST /{ig-user-id}/media -> {"id": container_id}. The media are fetched and checked
        here (outside the lock: a slow media server must not stall the sandbox)."""
        spec = params.parse(form)
        with self._lock:
            self._account(ig_user_id, key)
            for child_id in spec.children:
                self._check_child(ig_user_id, child_id)
        video_problem: int | None = None
        if self._fetcher is not None:
            if spec.image_url:
                self._fetcher.image(spec.image_url, feed=spec.feed_image)
            if spec.cover_url:
                self._fetcher.image(spec.cover_url, feed=False)
            if spec.video_url:
                video_problem = self._fetcher.video(spec.video_url)
        # a resumable video is checked when its last byte reaches the upload host (rupload)
        with self._lock:
            fate, error_status = FINISHED, None
            if video_problem is not None:
                fate, error_status = ERROR, meta_errors.container_error_status(video_problem)
            elif self.faults.error_containers > 0:
                self.faults.error_containers -= 1
                fate, error_status = ERROR, meta_errors.container_error_status(2207026)
            elif self.faults.expire_containers > 0:
                self.faults.expire_containers -= 1
                fate = EXPIRED
            polls = self.faults.processing_polls + (VIDEO_EXTRA_POLLS if spec.is_video else 0)
            now = self._clock()
            takes = self.faults.video_processing_s if spec.is_video else self.faults.processing_s
            container = Container(
                id=self._world.new_id("18"),
                ig_user_id=ig_user_id,
                kind=spec.kind,
                is_video=spec.is_video,
                is_carousel_item=spec.is_carousel_item,
                media_url=spec.video_url or spec.image_url,
                children=list(spec.children),
                caption=spec.caption,
                extras=dict(spec.extras),
                created_at=now.isoformat(),
                polls_left=polls,
                fate=fate,
                error_status=error_status,
                upload_received=0 if spec.resumable else None,
                ready_at=(now + timedelta(seconds=takes)).isoformat() if takes else None,
            )
            self._world.containers[container.id] = container
            self._world.save()
            return {"id": container.id}

    def read_node(self, node_id: str, query: Mapping[str, str], key: str) -> dict[str, Any]:
        """GET /{id}: a container (a status read: it counts as a processing poll), a post,
        or an account (an unknown id asked only for user fields becomes a new account)."""
        with self._lock:
            container = self._world.containers.get(node_id)
            if container is not None:
                names = views.fields_of(query, views.CONTAINER_FIELDS, "ShadowIGMediaBuilder")
                return self._read_container(container, names)
            post = self._world.post(node_id)
            if post is not None:
                return self._media_fields(
                    post, views.fields_of(query, views.MEDIA_FIELDS, "IGMedia")
                )
            every = views.USER_FIELDS | views.CONTAINER_FIELDS | views.MEDIA_FIELDS
            names = views.fields_of(query, every, "IGUser")
            if node_id in self._world.accounts or (names and set(names) <= views.USER_FIELDS):
                account = self._account(node_id, key)
                return self._user_fields(
                    account, views.fields_of(query, views.USER_FIELDS, "IGUser")
                )
            raise meta_errors.no_such_object("GET", node_id)

    def publish(self, ig_user_id: str, form: Mapping[str, str], key: str) -> PublishAnswer:
        """POST /{ig-user-id}/media_publish creation_id=... -> {"id": media_id}.

        Every call is counted in `publish_calls`. Raise GraphError: 24/2207006 for an unknown
        container, 9007/2207027 when it is not FINISHED, -2/2207020 when EXPIRED, 100 when
        already PUBLISHED (no second post, ever), 9/2207042 when the quota is used up."""
        container_id = form.get("creation_id", "").strip()
        if not container_id:
            raise meta_errors.bad_parameter("The parameter creation_id is required")
        with self._lock:
            self._account(ig_user_id, key)
            calls = self._world.publish_calls
            calls[container_id] = calls.get(container_id, 0) + 1
            self._world.save()
            container = self._world.containers.get(container_id)
            if container is None or container.ig_user_id != ig_user_id:
                raise meta_errors.container_not_found(container_id)
            if container.is_carousel_item:
                raise meta_errors.bad_parameter(
                    f"The container {container_id} is a carousel item: publish its carousel"
                )
            now = self._clock()
            status = self._status(container, now)
            if status == PUBLISHED:
                raise meta_errors.already_published(container_id)
            if status == EXPIRED:
                raise meta_errors.container_expired()
            if status != FINISHED:
                raise meta_errors.not_ready()
            if self._quota_used(ig_user_id, now) >= self.faults.quota_total:
                raise meta_errors.quota_reached()
            username = self._world.accounts[ig_user_id].username
            post = post_for(container, self._world.new_id("17"), username, now)
            container.media_id = post.id
            self._world.posts.append(post)
            self._world.save()  # durable before anyone hears of it
            lose = None
            if self.faults.lose_publish_responses > 0:
                self.faults.lose_publish_responses -= 1
                lose = self.faults.lose_publish_with
            return PublishAnswer({"id": post.id}, lose, self.faults.publish_delay_s)

    def list_media(
        self, ig_user_id: str, query: Mapping[str, str], key: str, *, stories: bool, url: str
    ) -> dict[str, Any]:
        """GET /{ig-user-id}/media (no stories) or /stories (the last 24 h): newest first,
        `limit` per page, cursor paging (`after`), `since`/`until` in Unix seconds. `url` is
        the request's own URL without its query, for `paging.next`."""
        if stories:
            self._only("stories", "GET", f"/{ig_user_id}/stories")
        names = views.fields_of(query, views.MEDIA_FIELDS, "IGMedia")
        limit = views.whole(query, "limit", LIST_LIMIT_DEFAULT, low=1)
        limit = min(limit, LIST_LIMIT_MAX)
        since = views.whole(query, "since", 0, low=0)
        until = views.whole(query, "until", 0, low=0)
        with self._lock:
            self._account(ig_user_id, key)
            now = self._clock()
            items = [
                post
                for post in reversed(self._world.posts)
                if post.ig_user_id == ig_user_id
                and (post.media_product_type == "STORY") == stories
                and (not stories or now - post.published_at <= STORY_LIFETIME)
                and (not since or post.published_at.timestamp() >= since)
                and (not until or post.published_at.timestamp() <= until)
            ]
            start = 0
            if query.get("after"):
                start = views.cursor_position(items, query["after"]) + 1
            page = items[start : start + limit]
            body: dict[str, Any] = {"data": [self._media_fields(p, names) for p in page]}
            if page:
                paging: dict[str, Any] = {
                    "cursors": {"before": views.cursor(page[0]), "after": views.cursor(page[-1])}
                }
                if start + limit < len(items):
                    following = {k: v for k, v in query.items() if k != "access_token"}
                    following["after"] = views.cursor(page[-1])
                    paging["next"] = f"{url}?{urlencode(following)}"
                body["paging"] = paging
            return body

    def publishing_limit(
        self, ig_user_id: str, query: Mapping[str, str], key: str
    ) -> dict[str, Any]:
        """GET /{ig-user-id}/content_publishing_limit -> {"data": [{"quota_usage", "config"?}]}."""
        allowed = frozenset({"quota_usage", "config"})
        names = views.fields_of(query, allowed, "ContentPublishingLimit")
        with self._lock:
            self._account(ig_user_id, key)
            entry: dict[str, Any] = {"quota_usage": self._quota_used(ig_user_id, self._clock())}
            if "config" in names:
                entry["config"] = {
                    "quota_total": self.faults.quota_total,
                    "quota_duration": int(QUOTA_WINDOW.total_seconds()),
                }
            return {"data": [entry]}

    def me(self, query: Mapping[str, str], key: str) -> dict[str, Any]:
        """GET /me: the account this token used last, else the oldest account, else a new
        one. `id` is app-scoped (not the Instagram user id), as with Instagram Login."""
        names = views.fields_of(query, views.USER_FIELDS, "User") or ["id"]
        with self._lock:
            ig_user_id = self._token_user(key)
            if ig_user_id is None:
                ig_user_id = "17841" + str(int(key[:16], 16) % 10**12).zfill(12)
            account = self._account(ig_user_id, key)
            answer = self._user_fields(account, names)
            if "id" in answer:
                answer["id"] = views.app_scoped_id(account.ig_user_id)
            return answer

    def debug_token(self, key: str) -> dict[str, Any]:
        """GET /debug_token (sandbox only): the token's validity and a 60-day expiry counted
        from when this sandbox first saw it (or issued it)."""
        self._only("debug_token", "GET", "/debug_token")
        with self._lock:
            answer = tokens.debug(self._world, key, self._clock(), self._token_account.get(key))
            self._world.save()
            return answer

    def check_key(self, key: str) -> None:
        """Raise GraphError (190) if the token was replaced by a refresh."""
        with self._lock:
            tokens.check(self._world, key)

    def issued(self, key: str) -> bool:
        """True when this sandbox issued the token (a refresh)."""
        with self._lock:
            return tokens.issued_here(self._world, key)

    def refresh_token(self, key: str) -> dict[str, Any]:
        """GET /refresh_access_token: a new token for the one whose fingerprint is `key`
        (which stops working). Raise GraphError: 190 replaced, 100 too new."""
        self._only("refresh_access_token", "GET", "/refresh_access_token")
        with self._lock:
            token, new_key = tokens.refresh(
                self._world, key, self._clock(), self.faults.refresh_min_age_s
            )
            account = self._token_account.get(key)
            if account is not None:
                self._token_account[new_key] = account
            self._world.save()
            return tokens.refresh_answer(token)

    def comment(
        self, media_id: str, form: Mapping[str, str], query: Mapping[str, str], key: str
    ) -> CommentAnswer:
        """POST /{ig-media-id}/comments message=... -> {"id": comment_id}, as the token's
        account. The comment is saved before anyone hears of it; with `fields` sent along
        it is made and then refused (what Meta did to one scheduler, LESSONS.md)."""
        with self._lock:
            author = self._author(key)
            if self.faults.refuse_comments:
                raise meta_errors.comment_permission()
            comment = comments.create(self._world, media_id, form, author, self._clock())
            self._world.save()  # durable before anyone hears of it
            lose = None
            if self.faults.lose_comment_responses > 0:
                self.faults.lose_comment_responses -= 1
                lose = self.faults.lose_publish_with
            refuse = None
            if "fields" in query or "fields" in form:
                refuse = meta_errors.bad_parameter(
                    "Unsupported request: fields cannot be requested when creating a comment"
                )
            return CommentAnswer({"id": comment.id}, lose, refuse)

    def list_comments(self, media_id: str, query: Mapping[str, str], key: str) -> dict[str, Any]:
        """GET /{ig-media-id}/comments: newest first, cursor paging."""
        with self._lock:
            self._author(key)
            return comments.listing(self._world, media_id, query)

    def insights(self, media_id: str, query: Mapping[str, str], key: str) -> dict[str, Any]:
        """GET /{ig-media-id}/insights?metric=...: the post's metrics (`sandbox.insights`)."""
        with self._lock:
            self._author(key)
            if self.faults.refuse_insights:
                raise meta_errors.comment_permission()  # the same (#10) Meta gives both
            post = next((post for post in self._world.posts if post.id == media_id), None)
            if post is None:
                raise meta_errors.no_such_object("GET", media_id)
            return insights.answer(post, query.get("metric", ""), self._clock())

    def _only(self, endpoint: str, method: str, path: str) -> None:
        """Raise GraphError (2500, unknown path) when the login the sandbox plays
        (`faults.login`) does not have this endpoint (ONLY_FOR)."""
        login = self.faults.login
        if login != "both" and ONLY_FOR.get(endpoint, login) != login:
            raise meta_errors.unknown_path(method, path)

    # --- inside the lock ------------------------------------------------------------------

    def _account(self, ig_user_id: str, key: str) -> Account:
        account = self._world.accounts.get(ig_user_id)
        if account is None:
            account = Account(
                ig_user_id=ig_user_id,
                username=f"sandbox_{ig_user_id[-4:]}",
                created_at=self._clock().isoformat(),
            )
            self._world.accounts[ig_user_id] = account
            self._world.save()
        self._token_account[key] = ig_user_id
        if tokens.seen(self._world, key, self._clock())[1]:
            self._world.save()
        return account

    def _token_user(self, key: str) -> str | None:
        """The account a token speaks for: the one it used last, else the oldest one."""
        ig_user_id = self._token_account.get(key)
        if ig_user_id is None and self._world.accounts:
            oldest = min(self._world.accounts.values(), key=lambda a: a.created_at)
            ig_user_id = oldest.ig_user_id
        return ig_user_id

    def _author(self, key: str) -> Account:
        ig_user_id = self._token_user(key)
        if ig_user_id is None:
            raise meta_errors.token_invalid()
        return self._account(ig_user_id, key)

    def _status(self, container: Container, now: datetime) -> str:
        if container.media_id is not None:
            return PUBLISHED
        if now - datetime.fromisoformat(container.created_at) > CONTAINER_LIFETIME:
            return EXPIRED
        if container.uploading or container.polls_left > 0:
            return IN_PROGRESS
        if container.ready_at is not None and now < datetime.fromisoformat(container.ready_at):
            return IN_PROGRESS
        return container.fate

    def _check_child(self, ig_user_id: str, child_id: str) -> None:
        child = self._world.containers.get(child_id)
        if child is None or child.ig_user_id != ig_user_id:
            raise meta_errors.child_not_found(child_id)
        if not child.is_carousel_item:
            raise meta_errors.bad_parameter(
                f"The container {child_id} was not made with is_carousel_item=true"
            )
        status = self._status(child, self._clock())
        if status == IN_PROGRESS:
            raise meta_errors.not_ready()
        if status != FINISHED:
            raise meta_errors.bad_parameter(
                f"The carousel item {child_id} is {status}; make a new one"
            )

    def _read_container(self, container: Container, names: list[str]) -> dict[str, Any]:
        status = self._status(container, self._clock())
        # processing (the polls) starts once a resumable upload has every byte
        if status == IN_PROGRESS and not container.uploading and container.polls_left > 0:
            container.polls_left -= 1
            self._world.save()
        return views.container_fields(container, status, names)

    def _quota_used(self, ig_user_id: str, now: datetime) -> int:
        recent = sum(
            1
            for post in self._world.posts
            if post.ig_user_id == ig_user_id and now - post.published_at < QUOTA_WINDOW
        )
        return recent + self.faults.quota_used_extra

    def _media_fields(self, post: Post, names: list[str]) -> dict[str, Any]:
        username = self._world.accounts[post.ig_user_id].username
        return views.media_fields(
            post,
            username,
            names,
            without_at=self.faults.captions_without_at,
            comments_count=comments.count(self._world, post.id),
        )

    def _user_fields(self, account: Account, names: list[str]) -> dict[str, Any]:
        media_count = sum(
            1
            for post in self._world.posts
            if post.ig_user_id == account.ig_user_id and post.media_product_type != "STORY"
        )
        return views.user_fields(account, media_count, names)
