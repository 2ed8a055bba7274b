"""API channels a partner's account is pushed to: the shared HTTP client and one encoder per channel.

`channel_for(spec)` returns the encoder for a ChannelSpec (`joor`, `shopify`); both share
`http_push.HttpPushClient` for rate limits, retries and redaction.
"""

from __future__ import annotations

from pipelines.adapters.channels.http_push import ChannelConfigError, effective_min_interval
from pipelines.adapters.channels.joor import JoorChannel
from pipelines.adapters.channels.shopify import ShopifyChannel
from pipelines.domain.channel_items import rules_for
from pipelines.domain.partners import ChannelSpec

CHANNELS = {"joor": JoorChannel, "shopify": ShopifyChannel}
Channel = JoorChannel | ShopifyChannel


def channel_for(spec: ChannelSpec) -> Channel:
    """The encoder for `spec`, after checking its settings.

    Raises:
        ChannelConfigError: unknown channel name or invalid settings (names the problem).
    """
    if spec.name not in CHANNELS:
        raise ChannelConfigError(f"unknown channel {spec.name!r} (known: {', '.join(sorted(CHANNELS))})")
    effective_min_interval(spec)
    cap = rules_for(spec.name).max_batch_items
    if cap is not None and spec.batch_items is not None and spec.batch_items > cap:
        raise ChannelConfigError(
            f"channel {spec.name}: batch_items {spec.batch_items} is above the channel's cap of {cap} items a request"
        )
    return CHANNELS[spec.name](spec)
