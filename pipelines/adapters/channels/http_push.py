"""The HTTP client every API channel shares: rate limiting, retries, timeouts, redaction.

One `HttpPushClient` per channel and run. Each request (first try or retry) first waits for the
channel's `RateLimiter`: a credit budget over a sliding window (JOOR: 300 credits per 300 s, 5
per write) plus a minimum interval between requests. Retries (tenacity) cover 429, 5xx, 408,
timeouts and broken connections, with exponential backoff and jitter; a 429's Retry-After
(seconds or an HTTP date) is honoured instead when present, capped by `retry_after_max_s`.
A 429 without Retry-After waits for the credit window (JOOR: 300 s after the window's first
request). Shopify paces on its cost-based bucket instead (`CostLimiter`, read from each
answer). Anything else is an answer for the channel to read (`Answer`); its body is kept, with
the token redacted, for the push ledger.

The limiter lives in this process only: run at most one push per (channel, account) at a time
(the Dagster asset does; the lead's CLI calls the same code).
"""

from __future__ import annotations

import base64
import email.utils
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from pipelines.domain.partners import ChannelSpec

# The floor of `min_interval_s` per channel: a partner may raise it, never lower it.
MIN_INTERVAL_S: dict[str, float] = {"joor": 0.1, "shopify": 0.1}
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_STORED_BODY = 4000  # characters of a response body kept in the ledger
REDACTED = "[REDACTED]"
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
BAD_REQUEST = 400

Verdict = Literal["ok", "retry", "fail"]


class ChannelConfigError(ValueError):
    """A channel's settings are invalid (e.g. a minimum interval below the channel's floor)."""


@dataclass(frozen=True)
class PushRequest:
    """One HTTP request for one batch, ready to send (no secrets; the client adds auth)."""

    url: str
    params: dict[str, str]
    headers: dict[str, str]
    content: bytes
    idempotency_key: str


@dataclass(frozen=True)
class PushOutcome:
    """What came back for a batch's request.

    Attributes:
        status: answered (a response the channel reads: 2xx or a non-retryable status), or
            pending (retries ran out on retryable errors: send again on a later run).
        attempts: requests made for it in this run.
        response_status: last HTTP status, or None when no response arrived.
        response_body: last response body or transport error, redacted and truncated (what the
            ledger keeps).
        payload: the whole answer, for the channel to read (never stored or logged).
        headers: the answer's headers.
    """

    status: Literal["answered", "pending"]
    attempts: int
    response_status: int | None
    response_body: str
    payload: str = field(default="", repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)


AnswerKind = Literal["acknowledged", "per_item", "bad_request", "unanswered"]


@dataclass(frozen=True)
class Answer:
    """How a channel answered one batch, in the ledger's terms (channels.md "Failures are told apart").

    Attributes:
        kind: acknowledged (every item applied); per_item (the channel named items it refused
            or found stale; whether the others were applied is the channel's `applies_the_rest`
            rule); bad_request (a 400: cut the batch in two to find the item; a lone item is
            refused); unanswered (the request failed as a whole or retries ran out: nothing is
            refused and the batch stays pending).
        refused: position in the batch -> the channel's message.
        stale: positions whose compare-and-swap value was stale (drift).
        problem: for `unanswered`, one line in our words (`401 Unauthorized — check the token`).
    """

    kind: AnswerKind
    refused: dict[int, str] = field(default_factory=dict)
    stale: tuple[int, ...] = ()
    problem: str = ""


_WHAT_TO_DO = {
    401: "check the token",
    403: "check the token's access (scopes) for inventory",
    404: "check base_url",
}


def whole_request_problem(outcome: PushOutcome) -> str | None:
    """One line for an outcome that is a failure of the request as a whole, or None when the
    channel's own answer should be read (2xx, or a 400 that may be about one item)."""
    code = outcome.response_status
    if outcome.status == "pending":
        last = f"last answer HTTP {code}" if code is not None else outcome.response_body[:200]
        return f"no answer after {outcome.attempts} attempt(s) ({last}); sent again by the next push"
    if code is None or 200 <= code < 300 or code == BAD_REQUEST:
        return None
    reason = httpx.codes.get_reason_phrase(code) or "error"
    advice = _WHAT_TO_DO.get(code, f"the channel refused the request: {outcome.response_body[:200]}")
    return f"{code} {reason} — {advice}"


@dataclass
class RateLimiter:
    """Client-side budget: `credits` per `window_s`, `cost` per request, and `min_interval_s` between requests."""

    credits: int
    window_s: float
    cost: int
    min_interval_s: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _sent: deque = field(default_factory=deque)

    def __post_init__(self) -> None:
        if self.cost > self.credits:
            raise ChannelConfigError(f"credits_per_request {self.cost} exceeds rate_credits {self.credits}")

    @classmethod
    def for_spec(
        cls, spec: ChannelSpec, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> RateLimiter:
        """The credit budget a channel's settings describe (JOOR: 300 credits per 300 s, 5 a write)."""
        return cls(
            credits=spec.rate_credits,
            window_s=spec.rate_window_s,
            cost=spec.credits_per_request,
            min_interval_s=effective_min_interval(spec),
            clock=clock,
            sleep=sleep,
        )

    def acquire(self) -> None:
        """Block until one more request fits the budget and the interval, then count it."""
        while True:
            now = self.clock()
            while self._sent and self._sent[0] <= now - self.window_s:
                self._sent.popleft()
            waits = [0.0]
            if (len(self._sent) + 1) * self.cost > self.credits:
                waits.append(self._sent[0] + self.window_s - now)
            if self._sent:
                waits.append(self._sent[-1] + self.min_interval_s - now)
            wait = max(waits)
            if wait <= 0:
                self._sent.append(now)
                return
            self.sleep(wait)

    def observe(self, response: httpx.Response) -> None:
        """Credits are counted client-side: nothing to learn from an answer."""

    def wait_after_429(self) -> float:
        """A 429 without Retry-After: wait until the window that began with its first request is over."""
        now = self.clock()
        return max(self._sent[0] + self.window_s - now, 0.0) if self._sent else self.window_s


@dataclass
class CostLimiter:
    """Shopify's cost-based limit: a bucket of points that refills at `restoreRate` a second, as each
    answer reports it (`extensions.cost`). Before a request, wait until the bucket holds what the
    last request cost (a THROTTLED answer reports what was asked for against what was left)."""

    min_interval_s: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    available: float | None = None
    maximum: float = 0.0
    restore_rate: float = 0.0
    need: float = 0.0
    _seen_at: float = 0.0
    _last: float | None = None

    def acquire(self) -> None:
        now = self.clock()
        waits = [0.0]
        if self._last is not None:
            waits.append(self._last + self.min_interval_s - now)
        if self.available is not None and self.restore_rate > 0:
            have = min(self.maximum, self.available + (now - self._seen_at) * self.restore_rate)
            waits.append((min(self.need, self.maximum) - have) / self.restore_rate)
        wait = max(waits)
        if wait > 0:
            self.sleep(wait)
        self._last = self.clock()

    def observe(self, response: httpx.Response) -> None:
        try:
            cost = (response.json().get("extensions") or {}).get("cost") or {}
        except (ValueError, AttributeError):
            return
        status = cost.get("throttleStatus") or {}
        if "currentlyAvailable" not in status:
            return
        self.available = float(status["currentlyAvailable"])
        self.maximum = float(status.get("maximumAvailable", self.available))
        self.restore_rate = float(status.get("restoreRate", 0.0))
        self.need = float(cost.get("requestedQueryCost") or cost.get("actualQueryCost") or 0.0)
        self._seen_at = self.clock()

    def wait_after_429(self) -> float | None:
        return None


Limiter = RateLimiter | CostLimiter


def effective_min_interval(spec: ChannelSpec) -> float:
    """The channel's minimum interval: its floor when unset (0), the configured value when higher.

    Raises:
        ChannelConfigError: the configured value is below the channel's floor (names the floor).
    """
    floor = MIN_INTERVAL_S.get(spec.name, max(MIN_INTERVAL_S.values()))
    if spec.min_interval_s == 0:
        return floor
    if spec.min_interval_s < floor:
        raise ChannelConfigError(
            f"channel {spec.name}: min_interval_s {spec.min_interval_s} is below the minimum {floor} s"
        )
    return spec.min_interval_s


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret (and its base64 form) replaced, truncated to MAX_STORED_BODY."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text[:MAX_STORED_BODY]


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def status_verdict(response: httpx.Response) -> Verdict:
    """The default judgement: 2xx ok, 408/429/5xx retry, the rest fail."""
    if response.is_success:
        return "ok"
    return "retry" if response.status_code in RETRYABLE_STATUS or response.status_code >= 500 else "fail"


class _Retryable(Exception):
    def __init__(self, status: int | None, body: str, retry_after: float | None = None) -> None:
        super().__init__(body)
        self.status = status
        self.body = body
        self.retry_after = retry_after


class HttpPushClient:
    """Sends `PushRequest`s for one channel, with auth headers, limits and retries."""

    def __init__(
        self,
        spec: ChannelSpec,
        auth_headers: dict[str, str],
        secrets: tuple[str, ...],
        *,
        limiter: Limiter | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Build the client.

        Args:
            spec: the channel's settings (timeouts, attempts, backoff, rate budget).
            auth_headers: headers that authenticate (they hold the secret; never stored).
            secrets: strings to redact from stored response bodies.
            limiter: how the channel paces requests (default: the credit budget of `spec`).
            transport: an httpx transport (tests, proxies); default is a real connection pool.
            clock, sleep: time sources, injectable so tests need not wait.
        """
        self.spec = spec
        self._secrets = tuple(s for s in secrets if s)
        self._sleep = sleep
        self.limiter: Limiter = limiter or RateLimiter.for_spec(spec, clock, sleep)
        self._client = httpx.Client(headers=auth_headers, timeout=spec.timeout_s, transport=transport)
        # Jitter spreads retries of parallel runs so they do not hit a recovering API together.
        self._backoff = wait_exponential(multiplier=spec.backoff_initial_s, max=spec.backoff_max_s) + wait_random(
            0, spec.backoff_initial_s
        )

    def __enter__(self) -> HttpPushClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def send(self, request: PushRequest, verdict: Callable[[httpx.Response], Verdict] = status_verdict) -> PushOutcome:
        """POST one request until it is answered or out of attempts.

        Args:
            request: the batch's request; its idempotency key goes out as a header on every try,
                so a server that saw an earlier try can tell this is the same batch.
            verdict: the channel's judgement of a response (`retry` for e.g. GraphQL THROTTLED
                inside a 200); anything not `retry` is an answer for the channel to read.
        """
        attempts = 0
        retrying = Retrying(
            stop=stop_after_attempt(self.spec.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=True,
        )
        headers = dict(request.headers)
        if request.idempotency_key:  # reads carry none
            headers[IDEMPOTENCY_HEADER] = request.idempotency_key
        try:
            for attempt in retrying:
                with attempt:
                    self.limiter.acquire()
                    attempts += 1
                    response = self._post(request, headers)
                    self.limiter.observe(response)
                    body = redact(response.text, self._secrets)
                    if verdict(response) == "retry":
                        raise _Retryable(response.status_code, body, self._retry_after(response))
                    return PushOutcome(
                        "answered", attempts, response.status_code, body, response.text, dict(response.headers)
                    )
        except _Retryable as exhausted:
            return PushOutcome("pending", attempts, exhausted.status, exhausted.body)
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    def _retry_after(self, response: httpx.Response) -> float | None:
        """The wait a retryable answer asks for: a 429's Retry-After, else the limiter's window;
        a 200 (GraphQL THROTTLED) waits in the limiter, which read the bucket from the answer."""
        if response.status_code == 429:
            after = retry_after_seconds(response.headers.get("Retry-After"))
            return after if after is not None else self.limiter.wait_after_429()
        return 0.0 if response.is_success else None

    def _post(self, request: PushRequest, headers: dict[str, str]) -> httpx.Response:
        try:
            return self._client.post(request.url, params=request.params, headers=headers, content=request.content)
        except httpx.UnsupportedProtocol:
            raise  # a wrong base_url is a configuration error, not a flaky network
        except httpx.TransportError as error:  # timeouts, resets, refused connections
            raise _Retryable(None, redact(f"{type(error).__name__}: {error}", self._secrets)) from error

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return min(error.retry_after, self.spec.retry_after_max_s)
        return self._backoff(state)


def base64_token(token: str) -> str:
    """`token` base64-encoded (JOOR's `Authorization: OAuth2 <base64 token>`)."""
    return base64.b64encode(token.encode("utf-8")).decode("ascii")
